package gpuenv_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

func TestWriteReadRoundTrip(t *testing.T) {
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewRTX4090(gpufake.WithBusy()))})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), evidence.GPUEnvFile)
	writeFacts(t, path, f)
	got, err := gpuenv.Read(path)
	require.NoError(t, err)
	require.Equal(t, f, got)

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, want := range []string{`"schema_version": 1,`, `"cuda_driver_version": "12.6",`, `"memory_total_bytes": 25757220864,`, `"severity": "note",`} {
		require.Contains(t, string(b), want)
	}
}

func TestReadErrorsNameFileAndField(t *testing.T) {
	type testCase struct {
		name, content, want string // want follows "read <path>: "
	}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(t.TempDir(), evidence.GPUEnvFile)
		require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
		_, err := gpuenv.Read(path)
		require.Error(t, err)
		require.Equal(t, "read "+path+": "+tc.want, err.Error())
		require.NotContains(t, err.Error(), "\n")
	}
	for _, tc := range []testCase{
		{
			name:    "syntax",
			content: "{\n  \"schema_version\": 1,\n  \"nvml\": {\"available\": tru}\n}\n",
			want:    "line 3, column 28: invalid character '}' in literal true (expecting 'e')",
		},
		{
			name:    "type",
			content: `{"schema_version": 1, "nvml": {"gpus": [{"memory_total_bytes": "24 GiB"}]}}`,
			want:    "field nvml.gpus.memory_total_bytes: string is not uint64",
		},
		{
			name:    "truncated",
			content: `{"schema_version": 1, "nvml": {`,
			want:    "line 1, column 31: unexpected end of JSON input",
		},
		{
			name:    "schema version",
			content: `{"schema_version": 2}`,
			want:    "schema_version is 2, this build reads 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestReadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), evidence.GPUEnvFile)
	_, err := gpuenv.Read(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.True(t, strings.HasPrefix(err.Error(), "read "+path+": "))
}

// writeFacts saves the facts as indented JSON, as the suite writes gpu_env.json.
func writeFacts(t *testing.T, path string, f *gpuenv.Facts) {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
}
