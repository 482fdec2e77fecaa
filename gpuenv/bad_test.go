package gpuenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gotest.tools/v3/golden"

	"github.com/difftrain/gpusmoke/internal/badinput"
)

// TestBadInputs reads every broken gpu_env.json in ../testdata/bad/gpuenv (written by
// testdata/bad/gen_bad.py): each is refused with one line that names the file and, where there
// is one, the field. The errors are kept in testdata/bad-gpuenv.golden (go test ./gpuenv -update).
func TestBadInputs(t *testing.T) {
	got := badinput.Errors(t, "../testdata/bad/gpuenv/*.json", func(p string) (string, string) {
		_, err := Read(p)
		return badinput.Msg(err), p
	})
	golden.Assert(t, got, "bad-gpuenv.golden")
}

// FuzzRead reads arbitrary bytes as gpu_env.json: it never panics, a refusal is one line naming
// the file, and what it accepts has this build's schema version and writes back as it reads.
// Seeds: testdata/fuzz/FuzzRead (a recorded gpu_env.json and testdata/bad/gpuenv).
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	path, again := filepath.Join(dir, "gpu_env.json"), filepath.Join(dir, "again.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		require.NoError(t, os.WriteFile(path, data, 0o644))
		facts, err := Read(path)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
				t.Fatalf("want one line naming %s, got %q", path, msg)
			}
			return
		}
		require.Equal(t, SchemaVersion, facts.SchemaVersion)
		b, err := json.Marshal(facts)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(again, b, 0o644))
		back, err := Read(again)
		require.NoError(t, err)
		require.Equal(t, facts, back)
	})
}
