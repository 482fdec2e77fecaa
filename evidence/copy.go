package evidence

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/internal/printable"
	"github.com/difftrain/gpusmoke/redact"
)

// DefaultCopyCap is the size above which CopyRedacted references a file instead of copying it.
const DefaultCopyCap int64 = 256 << 20

// RefSuffix names the reference CopyRedacted writes for a file it does not copy.
const RefSuffix = ".sha256ref"

// Ref is the record of a file kept by reference: <name>.sha256ref beside where its copy
// would be, in the one format WriteRef writes ("key: value" lines).
type Ref struct {
	SHA256 string
	Size   int64
	Path   string // the original, absolute
	Reason string
	// Hashed is how many bytes, from the start, SHA256 covers: Size, unless the file is sparse
	// beyond SparseHashBytes (HashBounded). Then WriteRef writes it, and Allocated, the bytes
	// the disk held of it.
	Hashed, Allocated int64
}

// Whole says whether the reference's sha256 covers the whole file.
func (r Ref) Whole() bool { return r.Hashed == r.Size }

// WriteRef writes r to p.
func WriteRef(p string, r Ref) error {
	b := fmt.Sprintf("sha256: %s\nsize: %d\n", r.SHA256, r.Size)
	if !r.Whole() {
		b += fmt.Sprintf("hashed: %d\nallocated: %d\n", r.Hashed, r.Allocated)
	}
	b += fmt.Sprintf("path: %s\nreason: %s\n", r.Path, printable.OneLine(r.Reason))
	if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
		return fmt.Errorf("write reference %s: %w", p, err)
	}
	return nil
}

// ReadRef reads a reference WriteRef wrote; errors name the file and the field.
func ReadRef(p string) (Ref, error) {
	b, err := ReadFileLimit(p, 64<<10)
	if err != nil {
		return Ref{}, err
	}
	r := Ref{Size: -1, Hashed: -1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			return Ref{}, fmt.Errorf("read %s: line %d: want \"key: value\"", p, line)
		}
		switch k {
		case "sha256":
			r.SHA256 = strings.ToLower(v)
		case "size", "hashed", "allocated":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Ref{}, fmt.Errorf("read %s: %s: %q is not a number of bytes", p, k, v)
			}
			switch k {
			case "size":
				r.Size = n
			case "hashed":
				r.Hashed = n
			default:
				r.Allocated = n
			}
		case "path":
			r.Path = v
		case "reason":
			r.Reason = v
		default:
			return Ref{}, fmt.Errorf("read %s: line %d: unknown key %q", p, line, k)
		}
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil || len(r.SHA256) != 64 {
		return Ref{}, fmt.Errorf("read %s: sha256: %q is not a SHA-256", p, r.SHA256)
	}
	if r.Size < 0 {
		return Ref{}, fmt.Errorf("read %s: size is missing", p)
	}
	if r.Hashed < 0 {
		r.Hashed = r.Size // the whole file
	}
	if r.Hashed > r.Size {
		return Ref{}, fmt.Errorf("read %s: hashed: %d bytes of a %d-byte file", p, r.Hashed, r.Size)
	}
	if r.Path == "" {
		return Ref{}, fmt.Errorf("read %s: path is missing", p)
	}
	return r, nil
}

// MaxRedactJSONBytes is the largest JSON file CopyRedacted rewrites string by string (in
// memory); a larger one is referenced, not copied. difftrain's env.json is about 1 KB and its
// manifest about 4 KB.
const MaxRedactJSONBytes = 16 << 20

// Finding is a file CopyRedacted did not copy because it holds secrets.
type Finding struct {
	Path  string   // the original
	Ref   string   // the reference written instead, relative to out with '/' separators
	Names []string // what it holds (redact.Scanner.Found): variables' names and token shapes, never a value
}

// CopyRedacted copies files into out/artifacts/<subdir>/ under their base names and returns the
// paths it wrote, relative to out with '/' separators. A file larger than capBytes
// (0 references every non-empty file; the suite's default is DefaultCopyCap) is not copied:
// <name>.sha256ref records its sha256, size and absolute path instead. A symlink is never
// followed, and neither is a file that is not regular: each is an error naming it (and the
// link's target). Two files with one base name are an error. No secret goes into the evidence:
// a JSON file (.json) is copied
// with its strings redacted one by one (Redactor.JSON), so the copy is valid JSON whenever the
// original is (a JSON file larger than MaxRedactJSONBytes is referenced instead); another text
// file (.yaml, .yml, .txt, .log, .md, .csv, .jsonl, .cfg, .ini, .toml, .sh, .xml) is redacted as text.
// Any other file (a checkpoint) is binary: redacting it would change its sha256 and break it, so
// it is scanned while it is copied, and one that holds a secret is not copied but referenced
// (<name>.sha256ref, its reason naming what it holds, never a value) and returned as a Finding.
func CopyRedacted(out, subdir string, capBytes int64, red *redact.Redactor, files ...string) ([]string, []Finding, error) {
	if red == nil {
		return nil, nil, fmt.Errorf("copy artifacts: no redactor")
	}
	c := &redactingCopy{red: red}
	written, err := copyFiles(out, subdir, capBytes, c, files)
	return written, c.found, err
}

// textExts are the extensions CopyRedacted redacts as text.
var textExts = map[string]bool{".yaml": true, ".yml": true, ".txt": true, ".log": true, ".md": true, ".csv": true,
	".jsonl": true, ".cfg": true, ".ini": true, ".toml": true, ".sh": true, ".xml": true}

type redactingCopy struct {
	red   *redact.Redactor
	found []Finding
}

// copy copies src to dst redacted, or writes a reference beside dst and returns its name.
func (c *redactingCopy) copy(src, dst, relDir string, size int64) (string, error) {
	base := filepath.Base(dst)
	switch ext := strings.ToLower(filepath.Ext(base)); {
	case ext == ".json" && size > MaxRedactJSONBytes:
		return reference(src, dst, fmt.Sprintf("a JSON file larger than the %d bytes the harness redacts string by string", MaxRedactJSONBytes))
	case ext == ".json":
		return "", c.copyJSON(src, dst)
	case textExts[ext]:
		return "", c.copyText(src, dst)
	}
	names, sum, n, err := c.copyScanned(src, dst)
	if err != nil || len(names) == 0 {
		return "", err
	}
	if err := os.Remove(dst); err != nil {
		return "", fmt.Errorf("copy %s: remove the copy that holds secrets: %w", src, err)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	name := base + RefSuffix
	reason := fmt.Sprintf("holds %s: not copied, since a binary file cannot be redacted without changing its sha256", redact.Describe(names))
	if err := WriteRef(filepath.Join(filepath.Dir(dst), name), Ref{SHA256: sum, Size: n, Hashed: n, Path: abs, Reason: reason}); err != nil {
		return "", err
	}
	c.found = append(c.found, Finding{Path: src, Ref: path.Join(relDir, name), Names: names})
	return name, nil
}

// RedactFile writes src to dst with its secrets replaced, as CopyRedacted redacts a copy: a
// JSON file string by string (one larger than MaxRedactJSONBytes, or one that is not JSON, as
// text), any other file as text. It writes through a temporary file renamed over dst, so dst
// may be src.
func RedactFile(src, dst string, red *redact.Redactor) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".redact-*")
	if err != nil {
		return fmt.Errorf("redact %s: %w", src, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op after the rename
	c := &redactingCopy{red: red}
	st, err := os.Stat(src)
	switch {
	case err != nil:
		err = fmt.Errorf("redact %s: %w", src, err)
	case strings.EqualFold(filepath.Ext(src), ".json") && st.Size() <= MaxRedactJSONBytes:
		err = c.copyJSON(src, tmp.Name())
	default:
		err = c.copyText(src, tmp.Name())
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("redact %s: %w", src, err)
	}
	return nil
}

// RedactTree redacts in place the regular files under dir that CopyRedacted redacts (JSON and
// text, RedactFile), once it has scanned the others: a binary file that holds a secret cannot be
// redacted, and is an error that names it and what it holds (never a value), before any file
// is changed. Symlinks are not followed.
func RedactTree(dir string, red *redact.Redactor) error {
	var texts []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".json" || textExts[ext] {
			texts = append(texts, p)
			return nil
		}
		names, err := scanFile(p, red)
		if err == nil && len(names) > 0 {
			err = fmt.Errorf("%s holds %s: a binary file cannot be redacted; move it out of %s yourself", p, redact.Describe(names), dir)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range texts {
		if err := RedactFile(p, p, red); err != nil {
			return err
		}
	}
	return nil
}

// scanFile names the secrets a file holds (redact.Scanner).
func scanFile(p string, red *redact.Redactor) ([]string, error) {
	f, _, err := openRegular(p)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", p, err)
	}
	defer f.Close()
	scan := red.Scanner()
	if _, err := io.Copy(scan, f); err != nil {
		return nil, fmt.Errorf("scan %s: %w", p, err)
	}
	if err := scan.Close(); err != nil {
		return nil, fmt.Errorf("scan %s: %w", p, err)
	}
	return scan.Found(), nil
}

// copyJSON copies a JSON file with its strings redacted; one that is not valid JSON is redacted
// as text (there is no JSON to keep valid).
func (c *redactingCopy) copyJSON(src, dst string) error {
	in, _, err := openRegular(src)
	if err != nil {
		return fmt.Errorf("copy artifact: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(in, MaxRedactJSONBytes+1))
	in.Close()
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if len(b) > MaxRedactJSONBytes {
		return fmt.Errorf("copy %s: grew past %d bytes while it was copied", src, MaxRedactJSONBytes)
	}
	red, err := c.red.JSON(b)
	if err != nil {
		red = c.red.Bytes(b)
	}
	if err := os.WriteFile(dst, red, 0o644); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// copyText copies a text file through the redacting writer.
func (c *redactingCopy) copyText(src, dst string) error {
	return copyThrough(src, dst, func(w io.Writer) io.WriteCloser { return c.red.Writer(w) })
}

// copyScanned copies a binary file byte for byte, hashing it and looking for secrets as it goes.
func (c *redactingCopy) copyScanned(src, dst string) (names []string, sum string, size int64, err error) {
	scan := c.red.Scanner()
	h := sha256.New()
	var n int64
	err = copyThrough(src, dst, func(w io.Writer) io.WriteCloser {
		return tee{w: io.MultiWriter(w, h, counter{&n}, scan), closer: scan}
	})
	if err != nil {
		return nil, "", 0, err
	}
	return scan.Found(), hex.EncodeToString(h.Sum(nil)), n, nil
}

type tee struct {
	w      io.Writer
	closer io.Closer
}

func (t tee) Write(p []byte) (int, error) { return t.w.Write(p) }
func (t tee) Close() error                { return t.closer.Close() }

type counter struct{ n *int64 }

func (c counter) Write(p []byte) (int, error) { *c.n += int64(len(p)); return len(p), nil }

// reference writes <base>.sha256ref beside dst for src, with reason, and returns its name. A
// file sparse beyond SparseHashBytes is hashed bounded (HashBounded), and the reason says so.
func reference(src, dst, reason string) (string, error) {
	d, err := HashBounded(src)
	if err != nil {
		return "", fmt.Errorf("copy artifact: %w", err)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	if !d.Whole() {
		reason += fmt.Sprintf("; sparse (%d bytes allocated of %d): its sha256 covers its first %d bytes (head -c %d | sha256sum), not the whole file",
			d.Allocated, d.Size, d.Hashed, d.Hashed)
	}
	name := filepath.Base(dst) + RefSuffix
	return name, WriteRef(filepath.Join(filepath.Dir(dst), name),
		Ref{SHA256: d.SHA256, Size: d.Size, Hashed: d.Hashed, Allocated: d.Allocated, Path: abs, Reason: reason})
}

func copyFiles(out, subdir string, capBytes int64, rc *redactingCopy, files []string) ([]string, error) {
	if subdir == "" || strings.Contains(subdir, "..") || filepath.IsAbs(subdir) {
		return nil, fmt.Errorf("copy artifacts: subdir %q must be a relative path inside %s", subdir, CopiesDir)
	}
	relDir := filepath.ToSlash(CopyRel(subdir))
	dstDir := filepath.Join(out, filepath.FromSlash(relDir))
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return nil, fmt.Errorf("copy artifacts: %w", err)
	}
	seen := map[string]string{}
	var written []string
	for _, src := range files {
		base := filepath.Base(src)
		if prev, dup := seen[base]; dup {
			return written, fmt.Errorf("copy %s: %s has the same name as %s", src, base, prev)
		}
		seen[base] = src
		st, err := os.Lstat(src)
		if err != nil {
			return written, fmt.Errorf("copy artifact: %w", err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(src)
			return written, fmt.Errorf("copy %s: a symlink to %s, not followed", src, target)
		}
		if !st.Mode().IsRegular() {
			return written, fmt.Errorf("copy %s: not a regular file", src)
		}
		dst := filepath.Join(dstDir, base)
		if st.Size() > capBytes {
			name, err := reference(src, dst, fmt.Sprintf("larger than the %d-byte copy cap", capBytes))
			if err != nil {
				return written, err
			}
			written = append(written, path.Join(relDir, name))
			continue
		}
		ref, err := rc.copy(src, dst, relDir, st.Size())
		if err != nil {
			return written, err
		}
		if ref != "" {
			written = append(written, path.Join(relDir, ref))
			continue
		}
		written = append(written, path.Join(relDir, base))
	}
	return written, nil
}

// copyThrough copies src to dst through the writer wrap makes of dst's file, which it closes
// before dst.
func copyThrough(src, dst string, wrap func(io.Writer) io.WriteCloser) error {
	in, _, err := openRegular(src)
	if err != nil {
		return fmt.Errorf("copy artifact: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	w := wrap(out)
	_, err = io.Copy(w, in)
	if err == nil {
		err = w.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
