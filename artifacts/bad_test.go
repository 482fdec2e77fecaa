package artifacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gotest.tools/v3/golden"

	"github.com/difftrain/gpusmoke/internal/badinput"
)

// bad is the broken-input corpus; testdata/bad/gen_bad.py writes it.
const bad = "../testdata/bad"

// badOutputDir is the output directory the manifest cases were recorded in (gen_bad.py's WS).
const badOutputDir = "/nonexistent/ws/difftrain/_tmp_run"

// TestBadInputs runs every broken difftrain output in the corpus through the check the smoke
// suite runs on it: each is refused with one line that names the file and, where there is one,
// the field. The errors are kept in testdata/bad-<kind>.golden (go test ./artifacts -update).
func TestBadInputs(t *testing.T) {
	resolved, err := ReadYAMLConfig(filepath.Join(input, "run", ResolvedConfigFile))
	require.NoError(t, err)
	fixtureSource := filepath.Join("..", "testdata", "difftrain", "configs", "smoke_text2image.yaml")
	smoke := Expect{Precision: "fp32", Seed: 123, MaxSteps: 2, DataRoot: "./data/smoke_text2image"}

	for _, kind := range []struct {
		name string
		glob string
		// check runs the case; it returns the error and the file the error must name.
		check func(path string) (error, string)
	}{
		{"config", "config/*.yaml", func(path string) (error, string) {
			// source-*.yaml are broken source configs, checked with the good resolved one.
			if strings.HasPrefix(filepath.Base(path), "source-") {
				_, err := CheckResolvedConfig(filepath.Join(input, "run", ResolvedConfigFile), path, smoke)
				return err, path
			}
			_, err := CheckResolvedConfig(path, fixtureSource, smoke)
			return err, path
		}},
		{"envjson", "envjson/*.json", func(path string) (error, string) {
			_, err := ReadEnvJSON(path)
			return err, path
		}},
		{"manifest", "manifest/*/", func(dir string) (error, string) {
			// A case's own smoke_text2image.yaml is its source config; without one the
			// manifest's config.source.path is read.
			source := filepath.Join(dir, "smoke_text2image.yaml")
			if _, err := os.Stat(source); err != nil {
				source = ""
			}
			path := filepath.Join(dir, ManifestFile)
			return checkManifest(path, badOutputDir, source, nil), path
		}},
		{"checkpoint", "checkpoint/*.pt", func(path string) (error, string) {
			_, err := CheckCheckpoint(path, 1, "fp32", resolved)
			return err, path
		}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			got := badinput.Errors(t, filepath.Join(bad, kind.glob), func(c string) (string, string) {
				err, file := kind.check(c)
				return badinput.Msg(err), file
			})
			golden.Assert(t, got, "bad-"+kind.name+".golden")
		})
	}
}

// FuzzParseEnvJSON reads arbitrary bytes as env.json from a file: it never panics, a refusal is
// one line naming the file, and an accepted file is consistent (device_count counts devices).
// Seeds: testdata/fuzz/FuzzParseEnvJSON (the recorded env.json files and testdata/bad/envjson).
func FuzzParseEnvJSON(f *testing.F) {
	path := filepath.Join(f.TempDir(), EnvJSONFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		require.NoError(t, os.WriteFile(path, data, 0o644))
		env, err := ReadEnvJSON(path)
		if err != nil {
			oneLineNaming(t, err, path)
			return
		}
		require.Equal(t, env.DeviceCount, int64(len(env.Devices)))
		require.False(t, !env.CUDAAvailable && env.DeviceCount != 0)
		if err := env.CheckGPU(GPU{Name: "NVIDIA GeForce RTX 4090", MemoryBytes: 25757220864}); err != nil {
			oneLineNaming(t, err, path)
		}
	})
}

// FuzzCheckResolvedConfig checks an arbitrary config.resolved.yaml against an arbitrary source
// config, both from files: it never panics, and a refusal is one line naming one of the two.
// Seeds: testdata/fuzz/FuzzCheckResolvedConfig (the recorded pair, and testdata/bad/config each
// paired with a good one).
func FuzzCheckResolvedConfig(f *testing.F) {
	dir := f.TempDir()
	resolvedPath, sourcePath := filepath.Join(dir, ResolvedConfigFile), filepath.Join(dir, "smoke_text2image.yaml")
	want := Expect{Precision: "fp32", Seed: 123, MaxSteps: 2, DataRoot: "data/smoke_text2image"}
	f.Fuzz(func(t *testing.T, resolved, source []byte) {
		require.NoError(t, os.WriteFile(resolvedPath, resolved, 0o644))
		require.NoError(t, os.WriteFile(sourcePath, source, 0o644))
		cfg, err := CheckResolvedConfig(resolvedPath, sourcePath, want)
		if err != nil {
			msg := err.Error()
			require.NotContains(t, msg, "\n")
			if !strings.Contains(msg, resolvedPath) && !strings.Contains(msg, sourcePath) {
				t.Fatalf("the error names neither file: %q", msg)
			}
			return
		}
		for _, s := range Sections {
			require.IsType(t, map[string]any{}, cfg[s], s)
		}
		require.Len(t, cfg, len(Sections))
	})
}

// oneLineNaming fails unless err is one line that names path.
func oneLineNaming(t *testing.T, err error, path string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Fatalf("the error spans lines: %q", msg)
	}
	if !strings.Contains(msg, path) {
		t.Fatalf("the error does not name %s: %q", path, msg)
	}
}
