package evidence

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCopy(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	small := filepath.Join(src, "env.json")
	big := filepath.Join(src, "checkpoint-1.pt")
	writeFile(t, small, `{"python": "3.11"}`)
	writeFile(t, big, strings.Repeat("x", 100))

	got, err := Copy(out, "train", 50, small, big)
	require.NoError(t, err)
	require.Equal(t, []string{"artifacts/train/env.json", "artifacts/train/checkpoint-1.pt.sha256ref"}, got)
	require.Equal(t, `{"python": "3.11"}`, readFile(t, filepath.Join(out, "artifacts", "train", "env.json")))
	sums, err := HashFiles(big)
	require.NoError(t, err)
	require.Equal(t, "sha256: "+sums[big]+"\nsize: 100\npath: "+big+"\nreason: larger than the 50-byte copy cap\n",
		readFile(t, filepath.Join(out, "artifacts", "train", "checkpoint-1.pt.sha256ref")))
	_, err = os.Stat(filepath.Join(out, "artifacts", "train", "checkpoint-1.pt"))
	require.True(t, errors.Is(err, os.ErrNotExist))

	// The default cap copies both.
	got, err = Copy(out, "resume", -1, small, big)
	require.NoError(t, err)
	require.Equal(t, []string{"artifacts/resume/env.json", "artifacts/resume/checkpoint-1.pt"}, got)

	// A cap of 0 references both.
	got, err = Copy(out, "none", 0, small, big)
	require.NoError(t, err)
	require.Equal(t, []string{"artifacts/none/env.json.sha256ref", "artifacts/none/checkpoint-1.pt.sha256ref"}, got)
}

func TestCopy_Errors(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	a := filepath.Join(src, "a", "env.json")
	b := filepath.Join(src, "b", "env.json")
	writeFile(t, a, "{}")
	writeFile(t, b, "{}")
	_, err := Copy(out, "x", 0, a, b)
	require.EqualError(t, err, "copy "+b+": env.json has the same name as "+a)
	_, err = Copy(out, "x", 0, filepath.Join(src, "missing.pt"))
	require.ErrorContains(t, err, "missing.pt")
	_, err = Copy(out, "x", 0, src)
	require.EqualError(t, err, "copy "+src+": not a regular file")
	_, err = Copy(out, "../escape", 0, a)
	require.ErrorContains(t, err, `subdir "../escape"`)
}

func TestHashFiles_DiffHashes(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "checkpoint-1.pt"), filepath.Join(dir, "checkpoint-2.pt")
	writeFile(t, one, "1")
	writeFile(t, two, "2")
	before, err := HashFiles(one, two)
	require.NoError(t, err)
	require.Equal(t, "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b", before[one])
	after, err := HashFiles(one, two)
	require.NoError(t, err)
	require.Empty(t, DiffHashes(before, after))
	writeFile(t, two, "2'")
	after, err = HashFiles(one, two)
	require.NoError(t, err)
	require.Equal(t, []string{two + " (changed)"}, DiffHashes(before, after))
	delete(after, one)
	after["x"] = "y"
	require.Equal(t, []string{one + " (gone)", two + " (changed)", "x (new)"}, DiffHashes(before, after))
	_, err = HashFiles(filepath.Join(dir, "nope"))
	require.ErrorContains(t, err, "nope")
}

// A symlink is never followed: copying one fails and names the link and its target, so that
// a step cannot copy /proc/self/environ or /etc/shadow into the evidence.
func TestCopy_Symlinks(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	for _, target := range []string{"/proc/self/environ", filepath.Join(dir, "real.pt")} {
		writeFile(t, filepath.Join(dir, "real.pt"), "data")
		link := filepath.Join(dir, "checkpoint-1.pt")
		os.Remove(link)
		require.NoError(t, os.Symlink(target, link))
		written, err := Copy(out, "04-train", -1, link)
		require.EqualError(t, err, "copy "+link+": a symlink to "+target+", not followed")
		require.Empty(t, written)
		require.NoFileExists(t, filepath.Join(out, CopiesDir, "04-train", "checkpoint-1.pt"))
	}
}

func TestWriteSums_VerifySums(t *testing.T) {
	out := t.TempDir()
	writeFile(t, filepath.Join(out, JUnitFile), "<testsuites/>")
	writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1 loss=0.1\n")
	writeFile(t, filepath.Join(out, CopiesDir, "train", "env.json"), "{}")
	writeFile(t, filepath.Join(out, "odd\nname\\x.txt"), "odd")
	require.NoError(t, os.Symlink(filepath.Join(out, JUnitFile), filepath.Join(out, "link.xml")))
	require.NoError(t, WriteSums(out))
	sums := readFile(t, filepath.Join(out, SumsFile))
	require.Contains(t, sums, "  artifacts/train/env.json\n")
	require.Contains(t, sums, "  logs/04-train.log\n")
	// A name with a newline or backslash is escaped, and its line starts with a backslash.
	require.Contains(t, sums, `\`+"990cb8ebd0afb7150da453a213036a92f2c05e091df0d803e62d257ea7796c27"+`  odd\nname\\x.txt`+"\n")
	require.NotContains(t, sums, SumsFile)
	require.NoError(t, VerifySums(out))

	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--check", "--strict", SumsFile)
		cmd.Dir = out
		got, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", got)
	}

	writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "edited\n")
	require.NoError(t, os.Remove(filepath.Join(out, JUnitFile)))
	require.NoError(t, os.Remove(filepath.Join(out, "link.xml")))
	writeFile(t, filepath.Join(out, ReportFile), "new")
	err := VerifySums(out)
	var se *SumsError
	require.ErrorAs(t, err, &se)
	require.Equal(t, []string{"logs/04-train.log"}, se.Mismatched)
	require.Equal(t, []string{JUnitFile, "link.xml"}, se.Missing)
	require.Equal(t, []string{ReportFile}, se.Extra)
	require.EqualError(t, err, "verify "+filepath.Join(out, SumsFile)+": 1 mismatched (logs/04-train.log); 2 missing (junit.xml, link.xml); 1 extra (report.md)")
}

func TestVerifySums_Broken(t *testing.T) {
	out := t.TempDir()
	require.ErrorContains(t, VerifySums(out), SumsFile)
	writeFile(t, filepath.Join(out, SumsFile), "not a sum line\n")
	require.EqualError(t, VerifySums(out), filepath.Join(out, SumsFile)+`: line 1: want "<sha256>  <path>"`)
}
