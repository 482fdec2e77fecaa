package evidence

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultCopyCap is the size above which Copy references a file instead of copying it.
const DefaultCopyCap int64 = 256 << 20

// RefSuffix names the reference Copy writes for a file it does not copy.
const RefSuffix = ".sha256ref"

// Ref is the record of a file kept by reference: <name>.sha256ref beside where its copy
// would be, in the one format WriteRef writes ("key: value" lines).
type Ref struct {
	SHA256 string
	Size   int64
	Path   string // the original, absolute
	Reason string
}

// WriteRef writes r to p.
func WriteRef(p string, r Ref) error {
	b := fmt.Sprintf("sha256: %s\nsize: %d\npath: %s\nreason: %s\n", r.SHA256, r.Size, r.Path, oneLine(r.Reason))
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
	r := Ref{Size: -1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			return Ref{}, fmt.Errorf("read %s: line %d: want \"key: value\"", p, line)
		}
		switch k {
		case "sha256":
			r.SHA256 = strings.ToLower(v)
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Ref{}, fmt.Errorf("read %s: size: %q is not a number of bytes", p, v)
			}
			r.Size = n
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
	if r.Path == "" {
		return Ref{}, fmt.Errorf("read %s: path is missing", p)
	}
	return r, nil
}

// Copy copies files into out/artifacts/<subdir>/ under their base names and returns the
// paths it wrote, relative to out with '/' separators. A file larger than capBytes
// (DefaultCopyCap when capBytes < 0; 0 references every non-empty file) is not copied:
// <name>.sha256ref records its sha256, size and absolute path instead. A symlink is never
// followed, and neither is a file that is not regular: each is an error naming it (and the
// link's target). Two files with one base name are an error.
func Copy(out, subdir string, capBytes int64, files ...string) ([]string, error) {
	if capBytes < 0 {
		capBytes = DefaultCopyCap
	}
	if subdir == "" || strings.Contains(subdir, "..") || filepath.IsAbs(subdir) {
		return nil, fmt.Errorf("copy artifacts: subdir %q must be a relative path inside %s", subdir, CopiesDir)
	}
	relDir := path.Join(CopiesDir, filepath.ToSlash(subdir))
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
		if st.Size() > capBytes {
			sum, size, err := HashFile(src)
			if err != nil {
				return written, fmt.Errorf("copy artifact: %w", err)
			}
			abs, err := filepath.Abs(src)
			if err != nil {
				return written, fmt.Errorf("copy %s: %w", src, err)
			}
			name := base + RefSuffix
			if err := WriteRef(filepath.Join(dstDir, name), Ref{SHA256: sum, Size: size, Path: abs,
				Reason: fmt.Sprintf("larger than the %d-byte copy cap", capBytes)}); err != nil {
				return written, err
			}
			written = append(written, path.Join(relDir, name))
			continue
		}
		if err := copyFile(src, filepath.Join(dstDir, base)); err != nil {
			return written, err
		}
		written = append(written, path.Join(relDir, base))
	}
	return written, nil
}

// copyFile copies a regular file, opened without following a symlink swapped in since it was
// checked.
func copyFile(src, dst string) error {
	in, err := openNoFollow(src)
	if err != nil {
		return fmt.Errorf("copy artifact: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// oneLine joins a multi-line text into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
