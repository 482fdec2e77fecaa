package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultCopyCap is the size above which Copy references a file instead of copying it.
const DefaultCopyCap int64 = 256 << 20

// RefSuffix names the reference Copy writes for a file above the cap.
const RefSuffix = ".sha256ref"

// Copy copies files into out/artifacts/<subdir>/ under their base names and returns the
// paths it wrote, relative to out with '/' separators. A file larger than capBytes
// (DefaultCopyCap when capBytes < 0; 0 references every non-empty file) is not copied:
// <name>.sha256ref records its sha256, size and absolute path instead. Two files with one
// base name are an error.
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
		st, err := os.Stat(src)
		if err != nil {
			return written, fmt.Errorf("copy artifact: %w", err)
		}
		if !st.Mode().IsRegular() {
			return written, fmt.Errorf("copy %s: not a regular file", src)
		}
		if st.Size() > capBytes {
			sum, size, err := hashFile(src)
			if err != nil {
				return written, fmt.Errorf("copy artifact: %w", err)
			}
			abs, err := filepath.Abs(src)
			if err != nil {
				return written, fmt.Errorf("copy %s: %w", src, err)
			}
			ref := fmt.Sprintf("sha256: %s\nsize: %d\npath: %s\nreason: larger than the %d-byte copy cap\n", sum, size, abs, capBytes)
			name := base + RefSuffix
			if err := os.WriteFile(filepath.Join(dstDir, name), []byte(ref), 0o644); err != nil {
				return written, fmt.Errorf("copy %s: write reference: %w", src, err)
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

func copyFile(src, dst string) error {
	in, err := os.Open(src)
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

// hashFile returns a file's hex sha256 and size.
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// HashFiles returns each file's hex sha256, keyed by the path as given.
func HashFiles(paths ...string) (map[string]string, error) {
	sums := make(map[string]string, len(paths))
	for _, p := range paths {
		sum, _, err := hashFile(p)
		if err != nil {
			return nil, fmt.Errorf("hash files: %w", err)
		}
		sums[p] = sum
	}
	return sums, nil
}

// DiffHashes lists, sorted, the paths whose hash differs between before and after, or that
// only one of them has: empty when the files are byte-identical.
func DiffHashes(before, after map[string]string) []string {
	var out []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			out = append(out, p+" (gone)")
		} else if a != b {
			out = append(out, p+" (changed)")
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, p+" (new)")
		}
	}
	sort.Strings(out)
	return out
}
