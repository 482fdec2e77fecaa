package evidence

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/redact"
)

// copyPlain is CopyRedacted with no secrets to find: what every copy does besides redacting.
func copyPlain(out, subdir string, capBytes int64, files ...string) ([]string, error) {
	written, _, err := CopyRedacted(out, subdir, capBytes, redact.New(nil), files...)
	return written, err
}

func TestCopy(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	small := filepath.Join(src, "env.json")
	big := filepath.Join(src, "checkpoint-1.pt")
	writeFile(t, small, `{"python": "3.11"}`)
	writeFile(t, big, strings.Repeat("x", 100))

	got, err := copyPlain(out, "train", 50, small, big)
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
	got, err = copyPlain(out, "resume", DefaultCopyCap, small, big)
	require.NoError(t, err)
	require.Equal(t, []string{"artifacts/resume/env.json", "artifacts/resume/checkpoint-1.pt"}, got)

	// A cap of 0 references both.
	got, err = copyPlain(out, "none", 0, small, big)
	require.NoError(t, err)
	require.Equal(t, []string{"artifacts/none/env.json.sha256ref", "artifacts/none/checkpoint-1.pt.sha256ref"}, got)
}

func TestCopy_Errors(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	a := filepath.Join(src, "a", "env.json")
	b := filepath.Join(src, "b", "env.json")
	writeFile(t, a, "{}")
	writeFile(t, b, "{}")
	_, err := copyPlain(out, "x", 0, a, b)
	require.EqualError(t, err, "copy "+b+": env.json has the same name as "+a)
	_, err = copyPlain(out, "x", 0, filepath.Join(src, "missing.pt"))
	require.ErrorContains(t, err, "missing.pt")
	_, err = copyPlain(out, "x", 0, src)
	require.EqualError(t, err, "copy "+src+": not a regular file")
	_, err = copyPlain(out, "../escape", 0, a)
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
		written, err := copyPlain(out, "04-train", DefaultCopyCap, link)
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
	require.NotContains(t, sums, "  "+SumsFile+"\n")
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

// CopyRedacted never puts a secret into the evidence: JSON copies are redacted string by string
// and stay valid JSON, text copies are redacted as text, and a binary file that holds a secret is
// referenced by its sha256 with a reason that names the variable, never its value.
func TestCopyRedacted(t *testing.T) {
	const token = "hf_copyRedactedToken0042"
	red := redact.New([]string{"HF_TOKEN=" + token, `DB_PASSWORD=pa"ss\word-9`, "AWS_SDK_LOAD_CONFIG=true"})
	src, out := t.TempDir(), t.TempDir()
	env := filepath.Join(src, "env.json")
	cfg := filepath.Join(src, "config.resolved.yaml")
	leaky := filepath.Join(src, "checkpoint-1.pt")
	clean := filepath.Join(src, "checkpoint-2.pt")
	writeFile(t, env, `{"cuda_available": true, "token": "`+token+`", "pw": "pa\"ss\\word-9", "n": 1.50}`+"\n")
	writeFile(t, cfg, "# HF_TOKEN="+token+"\ntrain:\n  seed: 1\n")
	writeFile(t, leaky, "PK\x03\x04\x00binary\x80\x02X\x18\x00\x00\x00"+token+"q\x07\xff")
	writeFile(t, clean, "PK\x03\x04\x00binary\x80\x02 nothing to see")

	written, found, err := CopyRedacted(out, "04-train", DefaultCopyCap, red, env, cfg, leaky, clean)
	require.NoError(t, err)
	require.Equal(t, []string{"artifacts/04-train/env.json", "artifacts/04-train/config.resolved.yaml",
		"artifacts/04-train/checkpoint-1.pt.sha256ref", "artifacts/04-train/checkpoint-2.pt"}, written)
	dir := filepath.Join(out, CopiesDir, "04-train")
	require.Equal(t, `{"cuda_available": true, "token": "[REDACTED:HF_TOKEN]", "pw": "[REDACTED:DB_PASSWORD]", "n": 1.50}`+"\n",
		readFile(t, filepath.Join(dir, "env.json")))
	require.Equal(t, "# HF_TOKEN=[REDACTED:HF_TOKEN]\ntrain:\n  seed: 1\n", readFile(t, filepath.Join(dir, "config.resolved.yaml")))
	require.Equal(t, readFile(t, clean), readFile(t, filepath.Join(dir, "checkpoint-2.pt")), "a clean binary is copied byte for byte")
	require.NoFileExists(t, filepath.Join(dir, "checkpoint-1.pt"))
	require.Equal(t, []Finding{{Path: leaky, Ref: "artifacts/04-train/checkpoint-1.pt.sha256ref", Names: []string{"HF_TOKEN"}}}, found, "the token, not the hf_ shape that runs on past it")
	ref, err := ReadRef(filepath.Join(dir, "checkpoint-1.pt.sha256ref"))
	require.NoError(t, err)
	sums, err := HashFiles(leaky)
	require.NoError(t, err)
	size := int64(len(readFile(t, leaky)))
	require.Equal(t, Ref{SHA256: sums[leaky], Size: size, Hashed: size, Path: leaky,
		Reason: "holds the value of HF_TOKEN: not copied, since a binary file cannot be redacted without changing its sha256"}, ref)
	require.NotContains(t, readFile(t, filepath.Join(dir, "checkpoint-1.pt.sha256ref")), token)

	// A token shape no variable holds is found too.
	shaped := filepath.Join(src, "other", "checkpoint-3.pt")
	writeFile(t, shaped, "\x00ghp_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210\x00")
	_, found, err = CopyRedacted(out, "shape", DefaultCopyCap, red, shaped)
	require.NoError(t, err)
	require.Equal(t, []string{redact.ShapeGitHubToken}, found[0].Names)

	// A JSON file that is not JSON is redacted as text; one too large to redact in memory is referenced.
	bad := filepath.Join(src, "bad", "run_manifest.json")
	writeFile(t, bad, `{"token": "`+token)
	huge := filepath.Join(src, "huge", "env.json")
	writeFile(t, huge, "{}")
	require.NoError(t, os.Truncate(huge, MaxRedactJSONBytes+1))
	written, found, err = CopyRedacted(out, "odd", DefaultCopyCap, red, bad, huge)
	require.NoError(t, err)
	require.Empty(t, found)
	require.Equal(t, []string{"artifacts/odd/run_manifest.json", "artifacts/odd/env.json.sha256ref"}, written)
	require.Equal(t, `{"token": "[REDACTED:HF_TOKEN]`, readFile(t, filepath.Join(out, CopiesDir, "odd", "run_manifest.json")))
	ref, err = ReadRef(filepath.Join(out, CopiesDir, "odd", "env.json.sha256ref"))
	require.NoError(t, err)
	require.Equal(t, "a JSON file larger than the 16777216 bytes the harness redacts string by string", ref.Reason)

	// Symlinks are never followed, as with any copy.
	link := filepath.Join(src, "link", "checkpoint-1.pt")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink("/proc/self/environ", link))
	_, _, err = CopyRedacted(out, "link", DefaultCopyCap, red, link)
	require.EqualError(t, err, "copy "+link+": a symlink to /proc/self/environ, not followed")
}

// RedactFile redacts a file into another or in place; RedactTree redacts the text files of a
// tree in place, after refusing one that holds a secret it cannot redact, before changing any.
func TestRedactFile_Tree(t *testing.T) {
	const token = "hf_copyRedactedToken0042"
	red := redact.New([]string{"HF_TOKEN=" + token})
	dir := t.TempDir()
	xml := filepath.Join(dir, "raw.xml")
	writeFile(t, xml, `<failure message="assert '`+token+`'">`+token+`</failure>`)
	out := filepath.Join(t.TempDir(), "junit.xml")
	require.NoError(t, RedactFile(xml, out, red))
	require.Equal(t, `<failure message="assert '[REDACTED:HF_TOKEN]'">[REDACTED:HF_TOKEN]</failure>`, readFile(t, out))
	require.ErrorContains(t, RedactFile(filepath.Join(dir, "missing.xml"), out, red), "missing.xml")

	tree := filepath.Join(t.TempDir(), "_tmp_run")
	cfg, manifest, ckpt := filepath.Join(tree, "config.resolved.yaml"), filepath.Join(tree, "run_manifest.json"), filepath.Join(tree, "ckpt", "checkpoint-1.pt")
	writeFile(t, cfg, "# HF_TOKEN="+token+"\n")
	writeFile(t, manifest, `{"env": {"HF_TOKEN": "`+token+`"}, "n": 1.50}`)
	writeFile(t, ckpt, "PK\x03\x04\x00"+token+"\x00")
	require.NoError(t, os.Symlink(cfg, filepath.Join(tree, "link.yaml")))
	err := RedactTree(tree, red)
	require.EqualError(t, err, ckpt+" holds the value of HF_TOKEN: a binary file cannot be redacted; move it out of "+tree+" yourself")
	require.Contains(t, readFile(t, cfg), token, "nothing changed")

	writeFile(t, ckpt, "PK\x03\x04\x00 clean\x00")
	require.NoError(t, RedactTree(tree, red))
	require.Equal(t, "# HF_TOKEN=[REDACTED:HF_TOKEN]\n", readFile(t, cfg))
	require.Equal(t, `{"env": {"HF_TOKEN": "[REDACTED:HF_TOKEN]"}, "n": 1.50}`, readFile(t, manifest))
	entries, err := os.ReadDir(tree)
	require.NoError(t, err)
	require.Len(t, entries, 4, "no temporary file is left")
}
