package gpuenv_test

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

func indexes(gpus []gpuenv.GPU) []int {
	out := []int{}
	for _, g := range gpus {
		out = append(out, g.Index)
	}
	return out
}

func TestSelect(t *testing.T) {
	lib := nvmlbind.FromNVML(gpufake.NewH200())
	for spec, want := range map[string][]int{
		"all":   {0, 1, 2, 3, 4, 5, 6, 7},
		"0,3,5": {0, 3, 5},
		"5,0,3": {0, 3, 5},
		"7":     {7},
	} {
		gpus, err := gpuenv.Select(lib, spec, "")
		require.NoError(t, err, spec)
		require.Equal(t, want, indexes(gpus), spec)
		for _, g := range gpus {
			require.Equal(t, h200UUID(g.Index), g.UUID)
			require.Equal(t, "NVIDIA H200 141GB HBM3e", g.Name)
		}
	}
	_, err := lib.DeviceCount()
	require.ErrorIs(t, err, gpuenv.ErrNotInitialized, "Select gives its reference back")

	gpus, err := gpuenv.Select(nvmlbind.FromNVML(gpufake.NewRTX4090()), "all", "")
	require.NoError(t, err)
	require.Equal(t, []int{0}, indexes(gpus))
}

func TestSelectRefuses(t *testing.T) {
	h200 := nvmlbind.FromNVML(gpufake.NewH200())
	for spec, want := range map[string]string{
		"9":                    "GPU 9 does not exist: NVML sees 8 GPUs, 0-7",
		"0,8":                  "GPU 8 does not exist: NVML sees 8 GPUs, 0-7",
		"99999999999999999999": `GPU 99999999999999999999 does not exist: NVML sees 8 GPUs, 0-7`,
		"0,3,0":                "GPU 0 is listed twice (NVML sees 8 GPUs, 0-7)",
		"-1":                   `"-1" is not a GPU index: GPU indexes start at 0 (NVML sees 8 GPUs, 0-7)`,
		"0,,3":                 `item 2 is empty: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"0,3,":                 `item 3 is empty: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"":                     `empty: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"0, 3":                 `" 3" has spaces: write the list without them, such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"gpu0":                 `"gpu0" is not a GPU index: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"0-3":                  `"0-3" is not a GPU index: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"+1":                   `"+1" is not a GPU index: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
		"ALL":                  `"ALL" is not a GPU index: write all, or NVML indexes such as 0,3,5 (NVML sees 8 GPUs, 0-7)`,
	} {
		gpus, err := gpuenv.Select(h200, spec, "")
		require.EqualError(t, err, want, "%q", spec)
		require.Nil(t, gpus)
	}
	_, err := gpuenv.Select(nvmlbind.FromNVML(gpufake.NewRTX4090()), "1", "")
	require.EqualError(t, err, "GPU 1 does not exist: NVML sees 1 GPU, 0")
	_, err = gpuenv.Select(nvmlbind.FromNVML(gpufake.NoDriver()), "all", "")
	require.EqualError(t, err, "no NVIDIA driver/GPU: nvml init: ERROR_LIBRARY_NOT_FOUND (libnvidia-ml.so.1 not found: no NVIDIA driver installed)")
	_, err = gpuenv.Select(nvmlbind.FromNVML(gpufake.NoGPU()), "all", "")
	require.EqualError(t, err, "no NVIDIA driver/GPU: NVML found no GPU")
}

// A GPU whose UUID cannot be read cannot be pinned: Select says which and what else to run.
func TestSelectUnpinnableGPU(t *testing.T) {
	lib := nvmlbind.FromNVML(gpufake.NewH200(gpufake.OnGPU(3, gpufake.WithLostGPU())))
	_, err := gpuenv.Select(lib, "all", "")
	require.EqualError(t, err, "GPU 3 cannot be pinned: its UUID cannot be read (GPU 3: read name: ERROR_GPU_IS_LOST); reset or replace it, or leave it out: 0,1,2,4,5,6,7")
	_, err = gpuenv.Select(lib, "3", "")
	require.EqualError(t, err, "GPU 3 cannot be pinned: its UUID cannot be read (GPU 3: read name: ERROR_GPU_IS_LOST); reset or replace it")
	gpus, err := gpuenv.Select(lib, "2,4", "")
	require.NoError(t, err)
	require.Equal(t, []int{2, 4}, indexes(gpus))
}

// "all" takes the GPUs this job was given: where CUDA_VISIBLE_DEVICES (as Slurm sets it without
// device constraints) names fewer GPUs than NVML sees, all is those, never another job's.
func TestSelectAllTakesTheGPUsTheJobWasGiven(t *testing.T) {
	h200 := nvmlbind.FromNVML(gpufake.NewH200())
	for visible, want := range map[string][]int{
		"":                              {0, 1, 2, 3, 4, 5, 6, 7},
		"2,3":                           {2, 3},
		"3,2":                           {2, 3},
		"0,1,2,3,4,5,6,7":               {0, 1, 2, 3, 4, 5, 6, 7},
		h200UUID(5) + "," + h200UUID(1): {1, 5},
		h200UUID(6):                     {6},
	} {
		gpus, err := gpuenv.Select(h200, "all", visible)
		require.NoError(t, err, visible)
		require.Equal(t, want, indexes(gpus), visible)
	}
	gpus, err := gpuenv.Select(h200, "0,7", "2,3")
	require.NoError(t, err)
	require.Equal(t, []int{0, 7}, indexes(gpus), "the operator's own list is taken as written")

	// With devices constrained, NVML sees the job's GPUs only, whatever numbers CUDA gives them.
	gpus, err = gpuenv.Select(nvmlbind.FromNVML(gpufake.NewRTX4090()), "all", "3")
	require.NoError(t, err)
	require.Equal(t, []int{0}, indexes(gpus))

	mixed := gpufake.NewH200()
	mixed.GPU(5).GetNameFunc = func() (string, nvml.Return) { return "NVIDIA H100 80GB HBM3", nvml.SUCCESS }
	for visible, want := range map[string]string{
		"2,9":      "CUDA_VISIBLE_DEVICES=2,9 names CUDA device 9, and NVML sees 8 GPUs",
		"MIG-1234": "CUDA_VISIBLE_DEVICES=MIG-1234 names a MIG device, and a node run takes whole GPUs",
		"GPU-ffff": "CUDA_VISIBLE_DEVICES=GPU-ffff names GPU-ffff, a GPU that NVML does not see",
		"0,,1":     `CUDA_VISIBLE_DEVICES=0,,1 has "", neither a CUDA index nor a GPU UUID`,
		"0,gpu1":   `CUDA_VISIBLE_DEVICES=0,gpu1 has "gpu1", neither a CUDA index nor a GPU UUID`,
	} {
		_, err := gpuenv.Select(h200, "all", visible)
		require.EqualError(t, err, want+": name the GPUs to run in SMOKE_GPUS (NVML indexes, such as 0,3)", visible)
	}
	_, err = gpuenv.Select(nvmlbind.FromNVML(mixed), "all", "2,3")
	require.EqualError(t, err, "CUDA_VISIBLE_DEVICES=2,3 names GPUs by CUDA index on a node whose GPUs are not all one model (CUDA's order may not be NVML's): name the GPUs to run in SMOKE_GPUS (NVML indexes, such as 0,3)")
	gpus, err = gpuenv.Select(nvmlbind.FromNVML(mixed), "all", h200UUID(5))
	require.NoError(t, err, "a UUID names its GPU whatever the models")
	require.Equal(t, []int{5}, indexes(gpus))
}
