package evidence

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/redact"
	"github.com/stretchr/testify/require"
)

func TestWriteRepro(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	ws := filepath.Join(dir, "work space")
	require.NoError(t, os.MkdirAll(ws, 0o755))
	script := filepath.Join(dir, ReproFile)
	argv := []string{"sh", "-c", `printf '%s|%s|%s|%s\n' "$PWD" "$CUBLAS_WORKSPACE_CONFIG" "$HF_TOKEN" "$1"`, "sh", `it's "$HOME" & more`}
	env := redact.New([]string{"HF_TOKEN=hf_secret_value"}).Environ([]string{"CUBLAS_WORKSPACE_CONFIG=:4096:8",
		"HF_TOKEN=hf_secret_value", "PATH=" + os.Getenv("PATH"), "ODD=it's $x", "PIP_INDEX_URL=https://u:pw@pypi.example/simple"})
	require.NoError(t, WriteRepro(script, ws, argv, env))

	st, err := os.Stat(script)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	text := readFile(t, script) + readFile(t, filepath.Join(dir, ReproEnvFile))
	require.NotContains(t, text, "hf_secret_value")
	require.NotContains(t, text, "u:pw")
	require.Contains(t, text, `secrets+=("PIP_INDEX_URL=${PIP_INDEX_URL:?set PIP_INDEX_URL: its value was redacted}")`, "a URL whose credentials were redacted is asked for too")
	require.Contains(t, text, "cd '"+ws+"'\n")
	require.Contains(t, text, "CUBLAS_WORKSPACE_CONFIG=:4096:8\n")

	// The redacted token must be supplied by whoever reruns it.
	cmd := exec.Command(script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	got, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(got), "set HF_TOKEN: its value was redacted")

	// From a fresh shell that lacks the step's variables (env -i), and with one the step did not
	// have, the step gets exactly its own environment back.
	cmd = exec.Command(script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HF_TOKEN=mine", "PIP_INDEX_URL=x", "CUBLAS_WORKSPACE_CONFIG=wrong"}
	got, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", got)
	require.Equal(t, ws+"|:4096:8|mine|it's \"$HOME\" & more\n", string(got))
}

func TestWriteRepro_Errors(t *testing.T) {
	path := filepath.Join(t.TempDir(), ReproFile)
	require.EqualError(t, WriteRepro(path, "/", nil, nil), "write repro "+path+": empty argv")
	require.ErrorContains(t, WriteRepro(filepath.Join(path, "sub", "x.sh"), "/", []string{"true"}, nil), "x.sh")
}

// Whatever the environment holds, the repro files are written: an exported shell function
// (Lmod's module) and a name bash cannot set reach the step as they were, from a fresh shell;
// an entry with no name is left out; repro.env says which.
func TestWriteRepro_AnyEnvironment(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, ReproFile)
	fn := "() {  eval \"$(echo module \"$@\")\"\n}"
	env := []string{"PATH=" + os.Getenv("PATH"), "BASH_FUNC_module%%=" + fn, "1BAD=x", "A-B=it's", "no-equals-sign", "=nameless"}
	argv := []string{"env"}
	require.NoError(t, WriteRepro(script, dir, argv, env))
	require.Equal(t, "# The environment of the failed step (secrets redacted), read by repro.sh.\n"+
		"PATH="+ShellQuote(os.Getenv("PATH"))+"\n"+
		"# BASH_FUNC_module%% is not a shell variable's name: repro.sh passes it to env -i as it was\n"+
		"# 1BAD is not a shell variable's name: repro.sh passes it to env -i as it was\n"+
		"# A-B is not a shell variable's name: repro.sh passes it to env -i as it was\n"+
		"# an entry with no name (14 bytes) was left out: no command can pass it on\n"+
		"# an entry with no name (9 bytes) was left out: no command can pass it on\n",
		readFile(t, filepath.Join(dir, ReproEnvFile)))

	cmd := exec.Command(script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	got, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", got)
	for _, kv := range []string{"1BAD=x\n", "A-B=it's\n", "BASH_FUNC_module%%=" + fn + "\n"} {
		require.Contains(t, string(got), kv, "the step gets it as it was")
	}
	require.NotContains(t, string(got), "nameless")
}

func TestQuote(t *testing.T) {
	require.Equal(t, `python ./difftrain/scripts/train.py --config 'a b.yaml' '' 'it'\''s'`,
		Quote([]string{"python", "./difftrain/scripts/train.py", "--config", "a b.yaml", "", "it's"}))
}
