package gpuenv_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
	"github.com/difftrain/gpusmoke/internal/testenv"
)

// pretendEnv is a clean environment with the pretend-CUDA torch first on PYTHONPATH, and env.
func pretendEnv(t *testing.T, env ...string) (string, []string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir, err := filepath.Abs(filepath.Join("..", "testdata", "pretend-cuda"))
	require.NoError(t, err)
	return py, testenv.Clean(append([]string{"PYTHONPATH=" + dir}, env...)...)
}

// The pretend-CUDA torch follows the fake NVML: with PRETEND_CUDA_GPU=h200 and pinned to one of
// the fake DGX H200's GPUs, the strict preflight's torch/NVML cross-check passes, and torch
// reports the H200's memory exactly as NVML does.
func TestPretendCUDAFollowsTheFakeH200(t *testing.T) {
	uuid := h200UUID(3)
	py, env := pretendEnv(t, "PRETEND_CUDA_GPU=h200", "CUDA_VISIBLE_DEVICES="+uuid)
	lib := gpuenv.Only(nvmlbind.FromNVML(gpufake.NewH200()), uuid)
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: lib, Python: py, Env: env, Strict: true})
	require.NoError(t, err)
	require.Equal(t, []string{"NVIDIA H200 141GB HBM3e"}, f.Python.Torch.Devices)
	require.Empty(t, f.Notes)

	cmd := exec.Command(py, "-c", "import torch; p = torch.cuda.get_device_properties(0); print(p.name, p.total_memory, p.major, p.minor, sep=';')")
	cmd.Env = env
	out, err := cmd.Output()
	require.NoError(t, err)
	g := f.NVML.GPUs[0]
	require.Equal(t, strings.Join([]string{g.Name, "151397597184", "9", "0"}, ";"), strings.TrimSpace(string(out)))
	require.Equal(t, uint64(151397597184), g.MemoryTotalBytes)
}

// Unset, the pretend GPU is the RTX 4090 as before; CUDA_VISIBLE_DEVICES hides it as CUDA does.
func TestPretendCUDAVisibleDevices(t *testing.T) {
	for _, c := range []struct {
		env     []string
		devices []string
	}{
		{nil, []string{"NVIDIA GeForce RTX 4090"}},
		{[]string{"CUDA_VISIBLE_DEVICES=0"}, []string{"NVIDIA GeForce RTX 4090"}},
		{[]string{"CUDA_VISIBLE_DEVICES=GPU-00000000-0000-4000-8000-000000004090"}, []string{"NVIDIA GeForce RTX 4090"}},
		{[]string{"CUDA_VISIBLE_DEVICES="}, nil},
		{[]string{"CUDA_VISIBLE_DEVICES=-1"}, nil},
		{[]string{"CUDA_VISIBLE_DEVICES=-1,0"}, nil},
	} {
		py, env := pretendEnv(t, c.env...)
		f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewRTX4090()), Python: py, Env: env, Strict: true})
		require.Equal(t, c.devices, f.Python.Torch.Devices, "%v", c.env)
		require.Equal(t, c.devices != nil, f.Python.Torch.CUDAAvailable, "%v", c.env)
		if c.devices == nil {
			require.EqualError(t, err, "cross-check: torch 2.4.0+pretend sees no CUDA device while NVML sees 1 GPU(s): the run would train on the CPU", "%v", c.env)
		} else {
			require.NoError(t, err, "%v", c.env)
		}
	}
	py, env := pretendEnv(t, "PRETEND_CUDA_GPU=a100")
	f, _ := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewRTX4090()), Python: py, Env: env})
	require.Equal(t, "import torch: ValueError: PRETEND_CUDA_GPU=a100: unknown GPU (rtx4090, h200)", f.Python.Torch.Error)
}
