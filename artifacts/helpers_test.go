package artifacts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// input holds the recorded inputs; gen_fixtures.py wrote them (see testdata/README.md).
const input = "testdata/input"

// workspace lays out a run as difftrain leaves it, from the recorded run files:
// <ws>/difftrain/configs/smoke_text2image.yaml and <ws>/difftrain/_tmp_run/{env.json,
// config.resolved.yaml, run_manifest.json}, with @WORKSPACE@ replaced by ws.
type workspace struct {
	dir, source, out, env, resolved, manifest string
}

func newWorkspace(t *testing.T) workspace {
	t.Helper()
	ws := t.TempDir()
	w := workspace{
		dir:    ws,
		source: filepath.Join(ws, "difftrain", "configs", "smoke_text2image.yaml"),
		out:    filepath.Join(ws, "difftrain", "_tmp_run"),
	}
	w.env = filepath.Join(w.out, EnvJSONFile)
	w.resolved = filepath.Join(w.out, ResolvedConfigFile)
	w.manifest = filepath.Join(w.out, ManifestFile)
	for src, dst := range map[string]string{
		"smoke_text2image.yaml": w.source, "env.json": w.env,
		"config.resolved.yaml": w.resolved, "run_manifest.json": w.manifest,
	} {
		data, err := os.ReadFile(filepath.Join(input, "run", src))
		require.NoError(t, err)
		writeFile(t, dst, strings.ReplaceAll(string(data), "@WORKSPACE@", ws))
	}
	return w
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// editJSON decodes a JSON file (numbers kept exact), lets edit change it, and writes it back.
func editJSON(t *testing.T, path string, edit func(m map[string]any)) {
	t.Helper()
	v, err := decodeJSON([]byte(readFile(t, path)))
	require.NoError(t, err)
	m := v.(map[string]any)
	edit(m)
	data, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	writeFile(t, path, string(data)+"\n")
}

// at walks a decoded JSON tree by keys.
func at(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// allocated is the bytes fn allocates (runtime.MemStats.TotalAlloc), after a GC.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
