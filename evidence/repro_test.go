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
	require.EqualError(t, WriteRepro(path, "/", []string{"true"}, []string{"1BAD=x"}),
		"write repro "+path+`: environment entry "1BAD=x" is not NAME=value`)
	require.ErrorContains(t, WriteRepro(filepath.Join(path, "sub", "x.sh"), "/", []string{"true"}, nil), "x.sh")
}

func TestQuote(t *testing.T) {
	require.Equal(t, `python ./difftrain/scripts/train.py --config 'a b.yaml' '' 'it'\''s'`,
		Quote([]string{"python", "./difftrain/scripts/train.py", "--config", "a b.yaml", "", "it's"}))
}
