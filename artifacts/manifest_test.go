package artifacts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckManifest(t *testing.T) {
	type testCase struct {
		name    string
		setup   func(t *testing.T, w workspace) // breaks something
		outDir  func(w workspace) string        // defaults to w.out
		wantErr string                          // substring; @M is the manifest's path, @O the output directory, @D its parent
	}
	editManifest := func(edit func(m map[string]any)) func(*testing.T, workspace) {
		return func(t *testing.T, w workspace) { editJSON(t, w.manifest, edit) }
	}
	run := func(t *testing.T, tc testCase) {
		w := newWorkspace(t)
		if tc.setup != nil {
			tc.setup(t, w)
		}
		out := w.out
		if tc.outDir != nil {
			out = tc.outDir(w)
		}
		err := checkManifest(w.manifest, out, "", nil)
		if tc.wantErr == "" {
			require.NoError(t, err)
			return
		}
		require.Error(t, err)
		require.Contains(t, err.Error(), strings.NewReplacer("@M", w.manifest, "@D", filepath.Dir(w.out), "@O", w.out).Replace(tc.wantErr))
		require.NotContains(t, err.Error(), "\n")
	}
	for _, tc := range []testCase{
		{name: "recorded run"},
		{name: "output dir given relative and unclean", outDir: func(w workspace) string {
			wd, _ := os.Getwd()
			rel, _ := filepath.Rel(wd, w.out)
			return rel + "/../_tmp_run/"
		}},
		{name: "source config with CRLF line ends (Python hashes the text)", setup: func(t *testing.T, w workspace) {
			text := readFile(t, w.source)
			writeFile(t, w.source, strings.ReplaceAll(text, "\n", "\r\n"))
		}},
		{name: "not JSON", setup: func(t *testing.T, w workspace) { writeFile(t, w.manifest, "{") }, wantErr: "@M: not JSON"},
		{name: "schema_version 2", setup: editManifest(func(m map[string]any) { m["schema_version"] = 2 }),
			wantErr: "@M: schema_version: 2, want 1"},
		{name: "schema_version a string", setup: editManifest(func(m map[string]any) { m["schema_version"] = "1" }),
			wantErr: "@M: schema_version: want integer, got string"},
		{name: "paths missing", setup: editManifest(func(m map[string]any) { delete(m, "paths") }),
			wantErr: "@M: paths: missing"},
		{name: "paths.env_json a list", setup: editManifest(func(m map[string]any) { at(m, "paths")["env_json"] = []any{} }),
			wantErr: "@M: paths.env_json: want string, got list"},
		{name: "repro.seed a float", setup: editManifest(func(m map[string]any) { at(m, "repro")["seed"] = json.Number("1.5") }),
			wantErr: "@M: repro.seed: want integer, got 1.5"},
		{name: "config.source.sha256 not hex", setup: editManifest(func(m map[string]any) { at(m, "config", "source")["sha256"] = "abc" }),
			wantErr: `@M: config.source.sha256: "abc" is not a hex sha256`},
		{name: "env missing", setup: editManifest(func(m map[string]any) { delete(m, "env") }),
			wantErr: "@M: env: missing"},
		{name: "source config edited after the run", setup: func(t *testing.T, w workspace) {
			writeFile(t, w.source, readFile(t, w.source)+"# edited\n")
		}, wantErr: "@M: config.source.sha256: "},
		{name: "resolved config edited after the run", setup: func(t *testing.T, w workspace) {
			writeFile(t, w.resolved, readFile(t, w.resolved)+"# edited\n")
		}, wantErr: "@M: config.resolved_file_sha256: "},
		{name: "repro.seed is not train.seed", setup: editManifest(func(m map[string]any) { at(m, "repro")["seed"] = 7 }),
			wantErr: "@M: repro.seed: 7, but config.resolved.yaml has train.seed 123"},
		{name: "config.resolved differs", setup: editManifest(func(m map[string]any) { at(m, "config", "resolved", "data")["image_size"] = 32 }),
			wantErr: "@M: config.resolved.data.image_size: got 32, want 64"},
		{name: "env differs from env.json", setup: func(t *testing.T, w workspace) {
			editJSON(t, w.env, func(m map[string]any) { m["python"] = "3.12.0" })
		}, wantErr: "@M: env.python: got "},
		{name: "env has an extra key", setup: editManifest(func(m map[string]any) { at(m, "env")["extra"] = true }),
			wantErr: "@M: env.extra: unexpected key (value true)"},
		{name: "env_json outside the output dir", setup: func(t *testing.T, w workspace) {
			editJSON(t, w.manifest, func(m map[string]any) { at(m, "paths")["env_json"] = filepath.Join(w.dir, "env.json") })
		}, wantErr: "@M: paths.env_json: "},
		{name: "output_dir relative", setup: editManifest(func(m map[string]any) { at(m, "paths")["output_dir"] = "difftrain/_tmp_run" }),
			wantErr: `@M: paths.output_dir: "difftrain/_tmp_run" is not absolute`},
		{name: "output_dir is the output directory's parent", setup: editManifest(func(m map[string]any) {
			at(m, "paths")["output_dir"] = filepath.Dir(at(m, "paths")["output_dir"].(string))
		}), wantErr: `@M: paths.output_dir: "@D" is outside the output directory @O`},
		{name: "checked against another output dir", outDir: func(w workspace) string { return filepath.Join(w.dir, "_tmp_run_fp16") },
			wantErr: "@M: paths.output_dir: "},
		{name: "env.json missing", setup: func(t *testing.T, w workspace) { require.NoError(t, os.Remove(w.env)) },
			wantErr: "check @M: read env.json beside it: "},
		{name: "config.resolved.yaml missing", setup: func(t *testing.T, w workspace) { require.NoError(t, os.Remove(w.resolved)) },
			wantErr: "check @M: read config.resolved.yaml beside it: "},
		{name: "source config missing", setup: func(t *testing.T, w workspace) { require.NoError(t, os.Remove(w.source)) },
			wantErr: "check @M: config.source.path: read the source config: "},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestCheckManifestSource(t *testing.T) {
	w := newWorkspace(t)
	// The manifest names a source that is gone; the given path is hashed instead.
	moved := filepath.Join(w.dir, "copy.yaml")
	writeFile(t, moved, readFile(t, w.source))
	require.NoError(t, os.Remove(w.source))
	require.NoError(t, checkManifest(w.manifest, w.out, moved, nil))

	// A relative config.source.path falls back to paths.config_path.
	w = newWorkspace(t)
	editJSON(t, w.manifest, func(m map[string]any) {
		at(m, "config", "source")["path"] = "./difftrain/configs/smoke_text2image.yaml"
	})
	require.NoError(t, checkManifest(w.manifest, w.out, "", nil))
}

func TestParseManifest_Recorded(t *testing.T) {
	p := filepath.Join(input, "run", "run_manifest.json")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	m, err := ParseManifest(p, data)
	require.NoError(t, err)
	require.EqualValues(t, 123, m.Seed)
	require.True(t, m.Deterministic)
	require.Equal(t, "@WORKSPACE@/difftrain/_tmp_run", m.Paths.OutputDir)
	require.Len(t, m.Config.ResolvedFileSHA256, 64)
}

// FuzzReadManifest parses arbitrary bytes as run_manifest.json and, when they parse, checks
// them against the recorded run: neither may panic, and errors stay one line.
func FuzzReadManifest(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(input, "run", "run_manifest.json"))
	require.NoError(f, err)
	f.Add(data)
	env, err := os.ReadFile(filepath.Join(input, "run", "env.json"))
	require.NoError(f, err)
	resolvedData, err := os.ReadFile(filepath.Join(input, "run", "config.resolved.yaml"))
	require.NoError(f, err)
	resolved, err := parseYAMLConfig("config.resolved.yaml", resolvedData)
	require.NoError(f, err)
	sourceData, err := os.ReadFile(filepath.Join(input, "run", "smoke_text2image.yaml"))
	require.NoError(f, err)
	in := ManifestInputs{
		OutputDir: "@WORKSPACE@/difftrain/_tmp_run", EnvJSON: env, Resolved: resolved,
		ResolvedSHA256: textSHA256s(resolvedData), SourcePath: "smoke_text2image.yaml", SourceSHA256: textSHA256s(sourceData),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest("run_manifest.json", data)
		if err != nil {
			require.NotContains(t, err.Error(), "\n")
			return
		}
		if err := m.Check("run_manifest.json", in); err != nil {
			require.NotContains(t, err.Error(), "\n")
		}
	})
}
