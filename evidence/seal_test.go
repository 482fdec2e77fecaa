package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/redact"
)

// within runs f and fails the test when it does not return within d: a hang bound.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %s", what, d)
	}
}

// sparseFile makes a file of size bytes that holds head and then a hole (truncate).
func sparseFile(t *testing.T, p, head string, size int64) {
	t.Helper()
	writeFile(t, p, head)
	require.NoError(t, os.Truncate(p, size))
}

// The seal opens nothing but a regular file and never follows a symlink: a dangling symlink,
// a FIFO, a symlink to it, a symlink to a directory and a sparse file are listed in
// SpecialsFile, which SHA256SUMS covers; VerifySums (make verify) and sha256sum agree, and each
// change to one of them after the seal is found.
func TestWriteSums_Specials(t *testing.T) {
	out := t.TempDir()
	writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1\n")
	left := filepath.Join(out, LeftoversDir, "difftrain", "_tmp_run")
	writeFile(t, filepath.Join(left, "env.json"), "{}")
	require.NoError(t, os.Symlink("checkpoint-9.pt", filepath.Join(left, "latest.pt")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(left, "progress.fifo"), 0o644))
	require.NoError(t, os.Symlink("progress.fifo", filepath.Join(left, "progress")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(left, "etc")))
	sparseFile(t, filepath.Join(left, "checkpoint-2.pt"), "PK", 10<<30)
	within(t, time.Minute, "WriteSums", func() { require.NoError(t, WriteSums(out)) })

	head := sha256.Sum256(append([]byte("PK"), make([]byte, SparseHashBytes-2)...))
	listed := readFile(t, filepath.Join(out, SpecialsFile))
	allocated := regexp.MustCompile(`allocated (\d+) `).FindStringSubmatch(listed)
	require.NotNil(t, allocated, listed)
	require.Equal(t, specialsHeader+
		`sparse "leftovers/difftrain/_tmp_run/checkpoint-2.pt" size 10737418240 allocated `+allocated[1]+` sha256 `+hex.EncodeToString(head[:])+" of its first 268435456 bytes\n"+
		`symlink "leftovers/difftrain/_tmp_run/etc" -> "/etc"`+"\n"+
		`symlink "leftovers/difftrain/_tmp_run/latest.pt" -> "checkpoint-9.pt"`+"\n"+
		`symlink "leftovers/difftrain/_tmp_run/progress" -> "progress.fifo"`+"\n"+
		`fifo "leftovers/difftrain/_tmp_run/progress.fifo"`+"\n",
		listed)
	sums := readFile(t, filepath.Join(out, SumsFile))
	require.Contains(t, sums, "  "+SpecialsFile+"\n")
	require.Contains(t, sums, "  leftovers/difftrain/_tmp_run/env.json\n")
	require.NotContains(t, sums, "checkpoint-2.pt")
	within(t, time.Minute, "VerifySums", func() { require.NoError(t, VerifySums(out)) })
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--check", "--strict", "--quiet", SumsFile)
		cmd.Dir = out
		got, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", got)
	}

	require.NoError(t, os.Remove(filepath.Join(left, "latest.pt")))
	require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(left, "latest.pt")))
	require.NoError(t, os.Remove(filepath.Join(left, "progress.fifo")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(out, "planted.fifo"), 0o644))
	f, err := os.OpenFile(filepath.Join(left, "checkpoint-2.pt"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("X"), 1<<20) // inside the part its sha256 covers
	require.NoError(t, err)
	require.NoError(t, f.Close())
	err = VerifySums(out)
	var se *SumsError
	require.ErrorAs(t, err, &se)
	require.Equal(t, []string{"leftovers/difftrain/_tmp_run/checkpoint-2.pt", "leftovers/difftrain/_tmp_run/latest.pt"}, se.Mismatched)
	require.Equal(t, []string{"leftovers/difftrain/_tmp_run/progress.fifo"}, se.Missing)
	require.Equal(t, []string{"planted.fifo"}, se.Extra)

	// With nothing left to list, sealing again removes the list.
	for _, p := range []string{"latest.pt", "progress", "etc", "checkpoint-2.pt"} {
		require.NoError(t, os.Remove(filepath.Join(left, p)))
	}
	require.NoError(t, os.Remove(filepath.Join(out, "planted.fifo")))
	require.NoError(t, WriteSums(out))
	require.NoFileExists(t, filepath.Join(out, SpecialsFile))
	require.NotContains(t, readFile(t, filepath.Join(out, SumsFile)), SpecialsFile)
	require.NoError(t, VerifySums(out))
}

// HashFile opens nothing but a regular file: a FIFO with no writer and a symlink are errors
// at once, naming the file, never a read that blocks.
func TestHashFile_NotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	link := filepath.Join(dir, "link")
	writeFile(t, filepath.Join(dir, "real"), "data")
	require.NoError(t, os.Symlink("real", link))
	within(t, 10*time.Second, "HashFile of a FIFO", func() {
		_, _, err := HashFile(fifo)
		require.EqualError(t, err, "hash "+fifo+": open "+fifo+": not a regular file (fifo), not opened")
	})
	_, _, err := HashFile(link)
	require.EqualError(t, err, "hash "+link+": open "+link+": a symlink, not followed")
	_, _, err = CopyRedacted(t.TempDir(), "04-train", DefaultCopyCap, redact.New(nil), fifo)
	require.EqualError(t, err, "copy "+fifo+": not a regular file")
}

// A sparse file is hashed over at most max(its allocated size, SparseHashBytes) bytes, and the
// digest says so; a dense file, and a sparse one within the bound, are hashed whole.
func TestHashBounded(t *testing.T) {
	dir := t.TempDir()
	sparse := filepath.Join(dir, "checkpoint-2.pt")
	sparseFile(t, sparse, "PK", 10<<30)
	d, err := HashBounded(sparse)
	require.NoError(t, err)
	require.Equal(t, int64(10<<30), d.Size)
	require.Equal(t, int64(SparseHashBytes), d.Hashed)
	require.Less(t, d.Allocated, int64(1<<20))
	require.False(t, d.Whole())
	head := sha256.Sum256(append([]byte("PK"), make([]byte, SparseHashBytes-2)...))
	require.Equal(t, hex.EncodeToString(head[:]), d.SHA256)
	require.Regexp(t, `^`+hex.EncodeToString(head[:])+` of the first 268435456 of 10737418240 bytes \(sparse, \d+ allocated\)$`, d.String())

	small := filepath.Join(dir, "small.pt")
	sparseFile(t, small, "PK", 1<<20)
	d, err = HashBounded(small)
	require.NoError(t, err)
	require.True(t, d.Whole(), "within the bound: hashed whole")
	sum, size, err := HashFile(small)
	require.NoError(t, err)
	require.Equal(t, sum, d.String())
	require.Equal(t, int64(1<<20), size)
}

// A file larger than the copy cap and sparse beyond the bound is referenced by the sha256 of
// its first bytes; the reference says how many, and why.
func TestCopy_SparseReference(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "checkpoint-2.pt")
	sparseFile(t, src, "PK", 10<<30)
	var written []string
	within(t, time.Minute, "Copy", func() {
		var err error
		written, _, err = CopyRedacted(out, "04-train", DefaultCopyCap, redact.New(nil), src)
		require.NoError(t, err)
	})
	require.Equal(t, []string{"artifacts/04-train/checkpoint-2.pt.sha256ref"}, written)
	ref, err := ReadRef(filepath.Join(out, written[0]))
	require.NoError(t, err)
	require.False(t, ref.Whole())
	require.Equal(t, int64(10<<30), ref.Size)
	require.Equal(t, int64(SparseHashBytes), ref.Hashed)
	require.Regexp(t, `^larger than the 268435456-byte copy cap; sparse \(\d+ bytes allocated of 10737418240\): its sha256 covers its first 268435456 bytes \(head -c 268435456 \| sha256sum\), not the whole file$`, ref.Reason)

	// A whole reference has no hashed line; one that claims more than the file is refused.
	writeFile(t, filepath.Join(out, "whole.sha256ref"), "sha256: "+strings.Repeat("a", 64)+"\nsize: 3\npath: /x\nreason: r\n")
	ref, err = ReadRef(filepath.Join(out, "whole.sha256ref"))
	require.NoError(t, err)
	require.True(t, ref.Whole())
	bad := filepath.Join(out, "bad.sha256ref")
	writeFile(t, bad, "sha256: "+strings.Repeat("a", 64)+"\nsize: 3\nhashed: 4\npath: /x\nreason: r\n")
	_, err = ReadRef(bad)
	require.EqualError(t, err, "read "+bad+": hashed: 4 bytes of a 3-byte file")
}
