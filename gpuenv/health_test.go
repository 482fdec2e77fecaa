package gpuenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

func TestHealthPreflight(t *testing.T) {
	type testCase struct {
		name string
		fake *gpufake.Fake
		want []gpuenv.Finding
	}
	run := func(t *testing.T, tc testCase) {
		start := time.Now()
		f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(tc.fake), Strict: true})
		require.NoError(t, err, "health findings are not Collect errors")
		require.Less(t, time.Since(start), time.Second)
		require.Equal(t, tc.want, f.Health)
		var fatal []gpuenv.Finding
		for _, h := range tc.want {
			if h.Severity == gpuenv.Fatal {
				fatal = append(fatal, h)
			}
		}
		require.Equal(t, fatal, f.Fatal())
	}
	fatal := func(msg string) gpuenv.Finding { return gpuenv.Finding{Severity: gpuenv.Fatal, GPU: 0, Message: msg} }
	note := func(msg string) gpuenv.Finding { return gpuenv.Finding{Severity: gpuenv.Note, GPU: 0, Message: msg} }

	for _, tc := range []testCase{
		{name: "healthy RTX 4090", fake: gpufake.NewRTX4090(), want: []gpuenv.Finding{}},
		{name: "healthy H200", fake: gpufake.NewH200(), want: []gpuenv.Finding{}},
		{
			name: "ECC errors",
			fake: gpufake.NewRTX4090(gpufake.WithECCErrors(3)),
			want: []gpuenv.Finding{fatal("GPU 0: 3 volatile uncorrectable ECC error(s) since the driver loaded")},
		},
		{
			name: "retired pages pending",
			fake: gpufake.NewRTX4090(gpufake.WithRetiredPagesPending()),
			want: []gpuenv.Finding{fatal("GPU 0: retired pages are pending: reset the GPU before trusting its memory")},
		},
		{
			name: "row remap failure",
			fake: gpufake.NewH200(gpufake.WithRemapFailure()),
			want: []gpuenv.Finding{fatal("GPU 0: row remapping failed: the GPU has no spare memory rows left and needs service")},
		},
		{
			name: "GPU fallen off the bus",
			fake: gpufake.NewRTX4090(gpufake.WithLostGPU()),
			want: []gpuenv.Finding{fatal("GPU 0 has fallen off the bus (GPU 0: read name: ERROR_GPU_IS_LOST): reset or replace it")},
		},
		{
			name: "device cannot be read",
			fake: gpufake.NewH200(gpufake.WithUnreadableDevice()),
			want: []gpuenv.Finding{fatal("GPU 0 cannot be read: GPU 0: get handle: ERROR_UNKNOWN")},
		},
		{
			name: "thermal and HW slowdown",
			fake: gpufake.NewRTX4090(gpufake.WithThrottle(nvml.ClocksThrottleReasonHwSlowdown | nvml.ClocksThrottleReasonHwThermalSlowdown | nvml.ClocksEventReasonSwPowerCap)),
			want: []gpuenv.Finding{note("GPU 0: clocks are held down: HW slowdown, HW thermal slowdown")},
		},
		{
			name: "power brake",
			fake: gpufake.NewRTX4090(gpufake.WithThrottle(nvml.ClocksThrottleReasonHwPowerBrakeSlowdown)),
			want: []gpuenv.Finding{note("GPU 0: clocks are held down: HW power brake")},
		},
		{
			name: "a power cap under load is normal",
			fake: gpufake.NewRTX4090(gpufake.WithThrottle(nvml.ClocksEventReasonSwPowerCap)),
			want: []gpuenv.Finding{},
		},
		{
			name: "busy",
			fake: gpufake.NewRTX4090(gpufake.WithBusy()),
			want: []gpuenv.Finding{note("GPU 0: already busy: 1 process(es), 18432 MiB in use")},
		},
		{
			name: "persistence off",
			fake: gpufake.NewRTX4090(gpufake.WithPersistenceOff()),
			want: []gpuenv.Finding{note("GPU 0: persistence mode is off: each process pays the driver start-up and clocks reset between runs")},
		},
		{
			name: "two faults on one GPU",
			fake: gpufake.NewH200(gpufake.WithECCErrors(1), gpufake.WithRemapFailure()),
			want: []gpuenv.Finding{
				fatal("GPU 0: 1 volatile uncorrectable ECC error(s) since the driver loaded"),
				fatal("GPU 0: row remapping failed: the GPU has no spare memory rows left and needs service"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

// Memory in use with no process NVML can see (another container) still counts as busy.
func TestBusyByMemoryAlone(t *testing.T) {
	fake := gpufake.NewRTX4090()
	fake.SetLoad(0, gpufake.Load{MemUsedMiB: 4096})
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(fake)})
	require.NoError(t, err)
	require.Equal(t, []gpuenv.Finding{{Severity: gpuenv.Note, GPU: 0, Message: "GPU 0: already busy: 0 process(es), 4096 MiB in use"}}, f.Health)
}

func TestRowRemapPendingIsANote(t *testing.T) {
	fake := gpufake.NewH200()
	fake.GPU(0).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 1, 0, true, false, nvml.SUCCESS }
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(fake)})
	require.NoError(t, err)
	require.Empty(t, f.Fatal())
	require.Equal(t, []gpuenv.Finding{{Severity: gpuenv.Note, GPU: 0, Message: "GPU 0: a row remap is pending: it takes effect at the next GPU reset"}}, f.Health)
}

func TestClockEventNames(t *testing.T) {
	require.Equal(t, []string{"GPU idle", "HW slowdown", "display clock setting", "0x400"}, gpuenv.ClockEventNames(0x1|0x8|0x100|0x400))
	require.Empty(t, gpuenv.ClockEventNames(0))
}

// The PCIe rule judges each GPU by its own samples at load, against its own maximum.
func TestLinkAtLoad(t *testing.T) {
	step := func(t *testing.T, opts ...gpufake.Option) ([]gpuenv.GPU, gpuenv.Peaks) {
		lib := nvmlbind.FromNVML(gpufake.NewH200(opts...))
		f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: lib, Strict: true})
		require.NoError(t, err)
		s := gpuenv.NewSampler(lib, time.Hour, nil)
		s.Start("04-train")
		p := s.Stop()
		require.NoError(t, s.Close())
		return f.NVML.GPUs, p
	}
	gpus, p := step(t, gpufake.OnGPU(3, gpufake.WithLoad(gpufake.TrainingLoad), gpufake.WithPCIeLink(3, 4)),
		gpufake.OnGPU(4, gpufake.WithLoad(gpufake.TrainingLoad), gpufake.WithPCIeLink(5, 8)),
		gpufake.OnGPU(5, gpufake.WithLoad(gpufake.TrainingLoad)),
		gpufake.OnGPU(6, gpufake.WithPCIeLink(1, 16))) // idle: a GPU may lower its link to save power
	var got []gpuenv.Finding
	for _, g := range gpus {
		if f, ok := gpuenv.LinkAtLoad(g, p); ok {
			got = append(got, f)
		}
	}
	require.Equal(t, []gpuenv.Finding{
		{Severity: gpuenv.Note, GPU: 3, Message: "GPU 3: PCIe link at gen 3 x4 under load, below its maximum gen 5 x16"},
		{Severity: gpuenv.Note, GPU: 4, Message: "GPU 4: PCIe link at gen 5 x8 under load, below its maximum gen 5 x16"},
	}, got)

	// A maximum NVML could not read, or a link it could not: nothing to judge.
	g := gpus[3]
	g.PCIeGen, g.PCIeWidth = 0, 0
	_, ok := gpuenv.LinkAtLoad(g, p)
	require.False(t, ok)
	_, ok = gpuenv.LinkAtLoad(gpus[3], gpuenv.Peaks{AtLoad: []gpuenv.LoadPeaks{{GPU: 3, Samples: 4}}})
	require.False(t, ok)
	f, ok := gpuenv.LinkAtLoad(gpus[3], gpuenv.Peaks{AtLoad: []gpuenv.LoadPeaks{{GPU: 3, Samples: 4, MinPCIeWidth: 8}}})
	require.True(t, ok)
	require.Equal(t, "GPU 3: PCIe link at gen ? x8 under load, below its maximum gen 5 x16", f.Message)
}
