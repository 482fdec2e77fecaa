package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
)

// HashFile returns a file's hex sha256 and size: the one hash the harness uses, for copies,
// references, SHA256SUMS and the checklist.
func HashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
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
		sum, _, err := HashFile(p)
		if err != nil {
			return nil, err
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
