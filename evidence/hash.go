package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
)

// SparseHashBytes bounds what the harness hashes of a sparse file: one larger than both its
// allocated size (st_blocks) and this is hashed over its first max(allocated, SparseHashBytes)
// bytes only. Hashing then costs at most what the disk holds of the file, never its apparent
// size (a 16 TiB file made with truncate). It is the default copy cap, DefaultCopyCap.
const SparseHashBytes = DefaultCopyCap

// Digest is what the harness records of a file: the sha256 of its first Hashed bytes, which are
// all of it (Whole) unless it is sparse beyond SparseHashBytes.
type Digest struct {
	SHA256    string
	Size      int64 // st_size, the apparent size
	Allocated int64 // st_blocks × 512, what the disk holds of it
	Hashed    int64 // the bytes SHA256 covers, from the start
}

// Whole says whether the sha256 covers the whole file.
func (d Digest) Whole() bool { return d.Hashed == d.Size }

// String is the sha256, and when it does not cover the whole file, how much of it it covers.
func (d Digest) String() string {
	if d.Whole() {
		return d.SHA256
	}
	return fmt.Sprintf("%s of the first %d of %d bytes (sparse, %d allocated)", d.SHA256, d.Hashed, d.Size, d.Allocated)
}

// HashFile returns a regular file's hex sha256 and size, the whole file hashed: for SHA256SUMS,
// which sha256sum checks, and the checklist's copies. It opens nothing but a regular file and
// never follows a symlink or blocks (openRegular).
func HashFile(p string) (string, int64, error) {
	d, err := hashFile(p, -1)
	return d.SHA256, d.Hashed, err
}

// HashBounded is HashFile bounded for a sparse file (SparseHashBytes): for references to
// difftrain's outputs, the resume's before-and-after and the seal.
func HashBounded(p string) (Digest, error) { return hashFile(p, SparseHashBytes) }

// hashFile hashes p; floor < 0 hashes it whole.
func hashFile(p string, floor int64) (Digest, error) {
	f, st, err := openRegular(p)
	if err != nil {
		return Digest{}, fmt.Errorf("hash %s: %w", p, err)
	}
	defer f.Close()
	d := Digest{Size: st.Size, Allocated: st.Blocks * 512}
	var r io.Reader = f
	limit := max(d.Allocated, floor)
	bounded := floor >= 0 && d.Size > limit
	if bounded {
		r = io.LimitReader(f, limit)
	}
	h := sha256.New()
	if d.Hashed, err = io.Copy(h, r); err != nil {
		return Digest{}, fmt.Errorf("hash %s: %w", p, err)
	}
	if !bounded { // read to its end: what it holds now, had it changed while it was read
		d.Size = d.Hashed
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// HashFiles returns each file's digest (Digest.String), keyed by the path as given: a sparse
// file is hashed bounded, as HashBounded does.
func HashFiles(paths ...string) (map[string]string, error) {
	sums := make(map[string]string, len(paths))
	for _, p := range paths {
		d, err := HashBounded(p)
		if err != nil {
			return nil, err
		}
		sums[p] = d.String()
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
