package gpuenv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

// h200UUID is the UUID of the fake DGX H200's GPU i.
func h200UUID(i int) string { return "GPU-00000000-0000-4000-8000-00000000020" + string(rune('0'+i)) }

// A run pinned to GPU 3 of eight sees GPU 3 alone, by its own index: its facts, its health, its
// samples and its Xids, none of its neighbours'.
func TestOnlyShowsOneGPUByItsIndex(t *testing.T) {
	fake := gpufake.NewH200(
		gpufake.OnGPU(3, gpufake.WithECCErrors(2), gpufake.WithXid(79), gpufake.WithLoad(gpufake.TrainingLoad), gpufake.WithPCIeLink(3, 4)),
		gpufake.OnGPU(5, gpufake.WithRemapFailure(), gpufake.WithXid(48), gpufake.WithLoad(gpufake.TrainingLoad)),
		gpufake.WithBusy(),
	)
	lib := gpuenv.Only(nvmlbind.FromNVML(fake), h200UUID(3))

	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: lib, Strict: true})
	require.NoError(t, err)
	require.Len(t, f.NVML.GPUs, 1)
	require.Equal(t, 3, f.NVML.GPUs[0].Index)
	require.Equal(t, h200UUID(3), f.NVML.GPUs[0].UUID)
	require.Equal(t, "00000000:5D:00.0", f.NVML.GPUs[0].PCIBusID)
	require.Equal(t, []gpuenv.Finding{{Severity: gpuenv.Fatal, GPU: 3, Message: "GPU 3: 2 volatile uncorrectable ECC error(s) since the driver loaded"}}, f.Health)

	var csv syncBuffer
	s := gpuenv.NewSampler(lib, time.Hour, &csv)
	s.Start("04-train")
	p := s.Stop()
	require.NoError(t, s.Close())
	require.Equal(t, []gpuenv.XidEvent{{GPU: 3, Xid: 79}}, p.XidEvents)
	require.Equal(t, []uint64{79}, p.Xids)
	require.Equal(t, []gpuenv.LoadPeaks{{GPU: 3, Samples: 1, MinSMClockMHz: 1980, MinPCIeGen: 3, MinPCIeWidth: 4}}, p.AtLoad)
	require.Equal(t, uint64(900), p.PeakMemMiB, "GPU 0's other job is not this run's")
	rows := csv.rows()
	require.Len(t, rows, 1)
	require.True(t, strings.HasSuffix(rows[0], ",04-train,3,900,97,62,380,1980,0x0,3,4"), rows[0])

	require.NoError(t, lib.Init())
	defer lib.Shutdown()
	_, err = lib.GPU(1)
	require.EqualError(t, err, "GPU 1: no such device (only GPU 3, "+h200UUID(3)+", is shown)")
	_, err = lib.Sample(1)
	require.Error(t, err)
}

// A health read that fails on the pinned GPU is reported under its own index.
func TestOnlyNamesAnUnreadableGPUByItsIndex(t *testing.T) {
	fake := gpufake.NewH200()
	fake.GPU(6).GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) {
		return 0, nvml.ERROR_GPU_IS_LOST
	}
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: gpuenv.Only(nvmlbind.FromNVML(fake), h200UUID(6)), Strict: true})
	require.NoError(t, err)
	require.Equal(t, []gpuenv.Finding{{Severity: gpuenv.Fatal, GPU: 6,
		Message: "GPU 6 has fallen off the bus (GPU 6: read ECC error count: ERROR_GPU_IS_LOST): reset or replace it"}}, f.Health)

	fake.GPU(6).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_UNKNOWN }
	f, err = gpuenv.Collect(context.Background(), gpuenv.Options{Lib: gpuenv.Only(nvmlbind.FromNVML(fake), h200UUID(6)), Strict: true})
	require.NoError(t, err)
	require.Equal(t, []gpuenv.Finding{{Severity: gpuenv.Fatal, GPU: 6,
		Message: "GPU 6 cannot be read: GPU 6: read memory info: ERROR_UNKNOWN"}}, f.Health)
}

// A UUID NVML does not see: the run has no GPU, and says which UUIDs there are (an unreadable
// GPU with why), as collectNVML reports a machine without one.
func TestOnlyUnknownUUID(t *testing.T) {
	fake := gpufake.NewRTX4090()
	lib := gpuenv.Only(nvmlbind.FromNVML(fake), "GPU-5f0e0000-dead-beef-0000-000000000000")
	_, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: lib, Strict: true})
	require.EqualError(t, err, `no NVIDIA driver/GPU: no GPU has UUID "GPU-5f0e0000-dead-beef-0000-000000000000": NVML sees GPU 0 GPU-00000000-0000-4000-8000-000000004090`)

	lost := gpuenv.Only(nvmlbind.FromNVML(gpufake.NewH200(gpufake.OnGPU(1, gpufake.WithLostGPU()))), "GPU-x")
	require.NoError(t, lost.Init())
	defer lost.Shutdown()
	_, err = lost.DeviceCount()
	require.ErrorContains(t, err, `no GPU has UUID "GPU-x": NVML sees GPU 0 `+h200UUID(0)+`, GPU 1 unreadable (GPU 1: read name: ERROR_GPU_IS_LOST), GPU 2 `)

	_, err = gpuenv.Only(nvmlbind.FromNVML(gpufake.NoDriver()), h200UUID(0)).DeviceCount()
	require.ErrorIs(t, err, gpuenv.ErrNotInitialized, "before Init, as any Library")
}

// An Xid NVML cannot tie to a device reaches every pinned run: better reported by all than by none.
func TestOnlyKeepsXidsOfNoKnownGPU(t *testing.T) {
	fake := gpufake.NewH200()
	fake.GPU(2).GetIndexFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_GPU_IS_LOST }
	fake.InjectXid(2, 79)
	fake.InjectXid(4, 13)
	s := gpuenv.NewSampler(gpuenv.Only(nvmlbind.FromNVML(fake), h200UUID(7)), time.Hour, nil)
	s.Start("04-train")
	require.Equal(t, []gpuenv.XidEvent{{GPU: -1, Xid: 79}}, s.Stop().XidEvents)
	require.NoError(t, s.Close())
}
