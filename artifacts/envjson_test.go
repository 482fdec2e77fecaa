package artifacts

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadEnvJSON_Recorded(t *testing.T) {
	env, err := ReadEnvJSON(filepath.Join(input, "run", "env.json"))
	require.NoError(t, err)
	require.False(t, env.CUDAAvailable)
	require.NotEmpty(t, env.TorchVersion)
	require.Equal(t, "--deterministic", env.Argv[len(env.Argv)-1])
	require.Empty(t, env.Devices)

	gpu, err := ReadEnvJSON(filepath.Join(input, "run", "env_gpu.json"))
	require.NoError(t, err)
	require.Equal(t, []Device{{Index: 0, Name: "NVIDIA GeForce RTX 4090", TotalMemoryBytes: 25393692672, Major: 8, Minor: 9, MultiProcessorCount: 128}}, gpu.Devices)
	require.Equal(t, "11.8", *gpu.CUDAVersion)
	require.EqualValues(t, 8700, *gpu.CuDNNVersion)
}

func TestReadEnvJSON_Broken(t *testing.T) {
	type testCase struct {
		name    string
		edit    func(m map[string]any)
		wantErr string // after "<path>: "
	}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(t.TempDir(), "env.json")
		writeFile(t, path, readFile(t, filepath.Join(input, "run", "env_gpu.json")))
		editJSON(t, path, tc.edit)
		_, err := ReadEnvJSON(path)
		require.EqualError(t, err, path+": "+tc.wantErr)
	}
	dev := func(m map[string]any) map[string]any { return m["devices"].([]any)[0].(map[string]any) }
	for _, tc := range []testCase{
		{"created_utc missing", func(m map[string]any) { delete(m, "created_utc") }, "created_utc: missing"},
		{"python a number", func(m map[string]any) { m["python"] = 3.11 }, "python: want string, got number"},
		{"torch_version null", func(m map[string]any) { m["torch_version"] = nil }, "torch_version: want string, got null"},
		{"argv a string", func(m map[string]any) { m["argv"] = "train.py" }, "argv: want list, got string"},
		{"argv item a number", func(m map[string]any) { m["argv"] = []any{"x", 1} }, "argv[1]: want string, got number"},
		{"cuda_available a string", func(m map[string]any) { m["cuda_available"] = "true" }, "cuda_available: want bool, got string"},
		{"cuda_version a number", func(m map[string]any) { m["cuda_version"] = json.Number("11.8") }, "cuda_version: want string or null, got number"},
		{"cudnn_version a string", func(m map[string]any) { m["cudnn_version"] = "8700" }, "cudnn_version: want integer or null, got string"},
		{"device_count a float", func(m map[string]any) { m["device_count"] = json.Number("1.5") }, "device_count: want integer, got 1.5"},
		{"devices an object", func(m map[string]any) { m["devices"] = map[string]any{} }, "devices: want list, got object"},
		{"device a list", func(m map[string]any) { m["devices"] = []any{[]any{}} }, "devices[0]: want object, got list"},
		{"device name a number", func(m map[string]any) { dev(m)["name"] = 4090 }, "devices[0].name: want string, got number"},
		{"device memory missing", func(m map[string]any) { delete(dev(m), "total_memory_bytes") }, "devices[0].total_memory_bytes: missing"},
		{"device major a string", func(m map[string]any) { dev(m)["major"] = "8" }, "devices[0].major: want integer, got string"},
		{"device_count disagrees", func(m map[string]any) { m["device_count"] = 2 }, "device_count: 2, but devices lists 1"},
		{"devices without CUDA", func(m map[string]any) { m["cuda_available"] = false }, "device_count: 1 with cuda_available false"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestReadEnvJSON_NotJSON(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"trunc.json": `{"python": "3.11"`, "list.json": `[]`, "two.json": `{} {}`} {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		_, err := ReadEnvJSON(path)
		require.ErrorContains(t, err, path+": ")
	}
	_, err := ReadEnvJSON(filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "missing.json")
}

func TestEnvJSON_CheckGPU(t *testing.T) {
	type testCase struct {
		name    string
		file    string
		gpu     GPU
		wantErr string
	}
	// NVML's view of an RTX 4090: 24564 MiB, 1.4% above torch's total_memory.
	nvml := GPU{Name: "NVIDIA GeForce RTX 4090", MemoryBytes: 24564 << 20}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(input, "run", tc.file)
		env, err := ReadEnvJSON(path)
		require.NoError(t, err)
		err = env.CheckGPU(tc.gpu)
		if tc.wantErr == "" {
			require.NoError(t, err)
			return
		}
		require.EqualError(t, err, path+": "+tc.wantErr)
	}
	for _, tc := range []testCase{
		{name: "matches NVML", file: "env_gpu.json", gpu: nvml},
		{name: "name only", file: "env_gpu.json", gpu: GPU{Name: nvml.Name}},
		{name: "another GPU", file: "env_gpu.json", gpu: GPU{Name: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30},
			wantErr: `devices[0].name: "NVIDIA GeForce RTX 4090", NVML says "NVIDIA H100 80GB HBM3"`},
		{name: "memory 10% off", file: "env_gpu.json", gpu: GPU{Name: nvml.Name, MemoryBytes: 28219277312},
			wantErr: "devices[0].total_memory_bytes: 25393692672, NVML says 28219277312 (10.0% apart, tolerance 5%)"},
		{name: "no CUDA", file: "env.json", gpu: nvml, wantErr: "cuda_available: false, want true (torch 1.13.0a0 saw no CUDA device)"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}
