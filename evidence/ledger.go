package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Ledger is what the harness wrote into an evidence directory: each file's sha256 and size at
// the moment the harness wrote it. The code under test runs with the directory within reach
// (the fixture's workspace is inside it), so the seal comes from the ledger, never from what
// is on disk at the end: Check names every file a step planted, changed or removed.
type Ledger struct {
	out      string
	mu       sync.Mutex
	files    map[string]stamp  // relative to out, slash-separated
	specials map[string]string // what the seal lists instead of hashing (a moved leftover link): its line
}

type stamp struct {
	sum  string
	size int64
}

// NewLedger starts the ledger of the evidence directory out.
func NewLedger(out string) *Ledger {
	return &Ledger{out: out, files: map[string]stamp{}, specials: map[string]string{}}
}

// Record hashes each file the harness has just written, as it is now, and notes it. Call it
// when no step runs: a file written while one runs goes through a HashWriter instead.
func (l *Ledger) Record(paths ...string) error {
	for _, p := range paths {
		sum, size, err := HashFile(l.abs(p))
		if err != nil {
			return err
		}
		l.RecordHash(p, sum, size)
	}
	return nil
}

// RecordHash notes that the harness wrote p (relative to out, or absolute) with that sha256 and size.
func (l *Ledger) RecordHash(p, sum string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files[l.rel(p)] = stamp{sum, size}
}

// RecordTree records every entry under dir (relative to out, or absolute) as Record does, and
// what the seal lists instead of hashing (a symlink, a FIFO, a sparse file) by its line.
func (l *Ledger) RecordTree(dir string) error {
	return filepath.WalkDir(l.abs(dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := l.rel(p)
		sp, isSpecial, err := specialOf(p, rel, d)
		switch {
		case err != nil:
			return err
		case isSpecial:
			l.mu.Lock()
			l.specials[rel] = sp.line
			l.mu.Unlock()
			return nil
		}
		return l.Record(p)
	})
}

func (l *Ledger) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.out, filepath.FromSlash(p))
}

func (l *Ledger) rel(p string) string {
	if r, err := filepath.Rel(l.out, l.abs(p)); err == nil {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(p)
}

// Findings are the files of an evidence directory that are not as the harness wrote them.
type Findings struct {
	Foreign []string // on disk, never written by the harness
	Changed []string // written by the harness, different now
	Removed []string // written by the harness, gone now
}

// OK says that the directory holds exactly what the harness wrote.
func (f Findings) OK() bool { return len(f.Foreign)+len(f.Changed)+len(f.Removed) == 0 }

// String names the files, as one line: "planted.txt not written by the harness; logs/03-validate.log changed after the harness wrote it".
func (f Findings) String() string {
	var parts []string
	for _, g := range []struct {
		files []string
		what  string
	}{{f.Foreign, "not written by the harness"}, {f.Changed, "changed after the harness wrote it"}, {f.Removed, "removed after the harness wrote it"}} {
		if len(g.files) > 0 {
			parts = append(parts, strings.Join(g.files, ", ")+" "+g.what)
		}
	}
	return strings.Join(parts, "; ")
}

// Check compares the evidence directory with the ledger. skip names the files others write,
// left out of the comparison (gotestsum's junit.xml and go-test.json).
func (l *Ledger) Check(skip ...string) (Findings, error) {
	f, _, _, err := l.check(skip)
	return f, err
}

// Seal checks the evidence directory (Check) and writes SHA256SUMS over it, but for skip. A
// file that is not as the harness wrote it is sealed as found, so that the evidence stays
// verifiable, and is among the findings, which the caller has made a failure of the run.
func (l *Ledger) Seal(skip ...string) (Findings, error) {
	f, sums, specials, err := l.check(skip)
	if err != nil {
		return f, err
	}
	return f, sealEntries(l.out, sums, specials)
}

func (l *Ledger) check(skip []string) (Findings, map[string]string, []special, error) {
	var f Findings
	files, specials, err := listEntries(l.out)
	if err != nil {
		return f, nil, nil, fmt.Errorf("seal %s: %w", l.out, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for _, sp := range specials {
		seen[sp.Path] = true
		switch want, ok := l.specials[sp.Path]; {
		case !ok:
			f.Foreign = append(f.Foreign, sp.Path)
		case want != sp.line:
			f.Changed = append(f.Changed, sp.Path)
		}
	}
	sums := map[string]string{}
	for _, rel := range files {
		if slices.Contains(skip, rel) || rel == SpecialsFile {
			continue
		}
		sum, size, err := HashFile(filepath.Join(l.out, filepath.FromSlash(rel)))
		if err != nil {
			return f, nil, nil, fmt.Errorf("seal %s: %w", l.out, err)
		}
		sums[rel], seen[rel] = sum, true
		switch want, ok := l.files[rel]; {
		case !ok:
			f.Foreign = append(f.Foreign, rel)
		case want.sum != sum || want.size != size:
			f.Changed = append(f.Changed, rel)
		}
	}
	for rel := range l.files {
		if !seen[rel] && !slices.Contains(skip, rel) {
			f.Removed = append(f.Removed, rel)
		}
	}
	for rel := range l.specials {
		if !seen[rel] {
			f.Removed = append(f.Removed, rel)
		}
	}
	slices.Sort(f.Foreign)
	slices.Sort(f.Removed)
	return f, sums, specials, nil
}

// HashWriter passes what it writes on to w and hashes it, for a file the harness writes while
// a step runs (telemetry.csv): its Sum is what the harness wrote, whatever else wrote the file.
type HashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

// NewHashWriter hashes what it writes to w.
func NewHashWriter(w io.Writer) *HashWriter { return &HashWriter{w: w, h: sha256.New()} }

func (hw *HashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// Sum is the hex sha256 and the size of what was written.
func (hw *HashWriter) Sum() (string, int64) { return hex.EncodeToString(hw.h.Sum(nil)), hw.n }
