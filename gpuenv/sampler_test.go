package gpuenv_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

// open wraps an nvml.Interface and initialises it for the length of the test.
func open(t *testing.T, iface nvml.Interface) gpuenv.Library {
	t.Helper()
	lib := nvmlbind.FromNVML(iface)
	require.NoError(t, lib.Init())
	t.Cleanup(func() { require.NoError(t, lib.Shutdown()) })
	return lib
}

// syncBuffer is a CSV sink the test can read while the sampler writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) rows() []string {
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	return lines[1:]
}

// sequence returns the next value of vs at each call, then the last one.
func sequence[T any](vs ...T) func() T {
	var mu sync.Mutex
	n := 0
	return func() T {
		mu.Lock()
		defer mu.Unlock()
		v := vs[min(n, len(vs)-1)]
		n++
		return v
	}
}

func TestSamplerRecordsPeaksAndCSV(t *testing.T) {
	fake := gpufake.NewRTX4090()
	d := fake.GPU(0)
	mem := sequence[uint64](1200, 21870, 9000)
	util := sequence[uint32](10, 97, 40)
	temp := sequence[uint32](40, 66, 71)
	power := sequence[uint32](100_500, 431_250, 250_000)
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) { return nvml.Memory_v2{Used: mem() << 20}, nvml.SUCCESS }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: util()}, nvml.SUCCESS }
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return temp(), nvml.SUCCESS }
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return power(), nvml.SUCCESS }
	lib := open(t, fake)

	var csv syncBuffer
	s := gpuenv.NewSampler(lib, 5*time.Millisecond, &csv)
	s.Start("train")
	require.Eventually(t, func() bool { return len(csv.rows()) >= 3 }, 5*time.Second, time.Millisecond)
	p := s.Stop()
	require.NoError(t, s.Close())

	require.GreaterOrEqual(t, p.Samples, 3)
	require.Equal(t, gpuenv.Peaks{Samples: p.Samples, PeakMemMiB: 21870, PeakUtilPct: 97, MaxTempC: 71, MaxPowerW: 431.25}, p)

	lines := strings.Split(csv.String(), "\n")
	require.Equal(t, strings.TrimSuffix(gpuenv.TelemetryHeader, "\n"), lines[0])
	row := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,train,0,`)
	// The fake's clocks say idle throughout (its Load is), so no sample counts as at load.
	for i, want := range []string{"1200,10,40,100.5,210,0x1,4,16", "21870,97,66,431.25,210,0x1,4,16", "9000,40,71,250,210,0x1,4,16"} {
		require.Regexp(t, row, lines[i+1])
		require.True(t, strings.HasSuffix(lines[i+1], ",train,0,"+want), lines[i+1])
	}
	require.Len(t, csv.rows(), p.Samples, "one row per GPU per sample")
}

func TestSamplerWritesOneRowPerGPU(t *testing.T) {
	lib := open(t, gpufake.NewH200())
	var csv syncBuffer
	s := gpuenv.NewSampler(lib, time.Hour, &csv)
	s.Start(`resume, "fp16"`)
	p := s.Stop()
	require.NoError(t, s.Close())
	require.Equal(t, 1, p.Samples)
	rows := csv.rows()
	require.Len(t, rows, 8)
	for i, r := range rows {
		f := strings.SplitN(r, ",", 2)
		require.Equal(t, `"resume, ""fp16""",`+string(rune('0'+i))+",0,0,29,76.25,345,0x1,5,16", f[1])
	}
	require.Equal(t, 76.25, p.MaxPowerW)
}

func TestSamplerStopIsPrompt(t *testing.T) {
	s := gpuenv.NewSampler(open(t, gpufake.NewRTX4090()), time.Hour, nil)
	s.Start("step")
	start := time.Now()
	p := s.Stop()
	// Far below the hour a Stop that waited for the next tick would take, far above a busy CI
	// machine's scheduling delays.
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 1, p.Samples, "one sample at Start, none while waiting for the hour")
	require.NoError(t, s.Close())
}

func TestSamplerInterval(t *testing.T) {
	lib := open(t, gpufake.NewRTX4090())
	var csv syncBuffer
	fast := gpuenv.NewSampler(lib, 10*time.Millisecond, &csv)
	slow := gpuenv.NewSampler(lib, 0, nil) // DefaultInterval: 1 s
	fast.Start("fast")
	slow.Start("slow")
	// Wait for the fast sampler's 10th row rather than sleep a fixed time: a busy machine delays
	// the ticks. Nominally 100 ms, well within the slow sampler's first second.
	require.Eventually(t, func() bool { return len(csv.rows()) >= 10 }, 5*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, fast.Stop().Samples, 10)
	require.Equal(t, 1, slow.Stop().Samples)
	require.NoError(t, fast.Close())
	require.NoError(t, slow.Close())
}

func TestSamplerReportsXids(t *testing.T) {
	fake := gpufake.NewRTX4090(gpufake.WithXid(79))
	s := gpuenv.NewSampler(open(t, fake), time.Hour, nil)

	s.Start("install")
	p := s.Stop()
	require.Equal(t, []uint64{79}, p.Xids)
	require.Equal(t, []gpuenv.XidEvent{{GPU: 0, Xid: 79}}, p.XidEvents)

	s.Start("dataset")
	require.Nil(t, s.Stop().Xids, "an Xid belongs to one step")

	require.NoError(t, s.Close())
}

// An Xid after the last sample is still collected when the step stops.
func TestSamplerCollectsXidsAtStop(t *testing.T) {
	fake := gpufake.NewRTX4090()
	var csv syncBuffer
	s := gpuenv.NewSampler(open(t, fake), time.Hour, &csv)
	s.Start("train")
	require.Eventually(t, func() bool { return len(csv.rows()) == 1 }, 5*time.Second, time.Millisecond)
	fake.InjectXid(0, 48)
	require.Equal(t, []uint64{48}, s.Stop().Xids)
	require.NoError(t, s.Close())
}

func TestSamplerXidOnSecondGPU(t *testing.T) {
	fake := gpufake.NewH200()
	s := gpuenv.NewSampler(open(t, fake), time.Hour, nil)
	fake.InjectXid(3, 94)
	s.Start("train")
	require.Equal(t, []gpuenv.XidEvent{{GPU: 3, Xid: 94}}, s.Stop().XidEvents)
	require.NoError(t, s.Close())
}

func TestSamplerWithoutGPUsRecordsNothing(t *testing.T) {
	for name, lib := range map[string]gpuenv.Library{
		"nil":       nil,
		"no driver": nvmlbind.FromNVML(gpufake.NoDriver()),
		"no GPU":    nvmlbind.FromNVML(gpufake.NoGPU()),
	} {
		t.Run(name, func(t *testing.T) {
			var csv bytes.Buffer
			s := gpuenv.NewSampler(lib, time.Millisecond, &csv)
			s.Start("train")
			time.Sleep(5 * time.Millisecond)
			require.Equal(t, gpuenv.Peaks{}, s.Stop())
			require.NoError(t, s.Close())
			require.Empty(t, csv.String())
		})
	}
}

// The sampler holds its own reference: it samples a library the caller has already shut down
// (as Collect does), and releases it at Close.
func TestSamplerHoldsItsOwnReference(t *testing.T) {
	lib := nvmlbind.FromNVML(gpufake.NewRTX4090())
	s := gpuenv.NewSampler(lib, time.Hour, nil)
	s.Start("train")
	require.Equal(t, 1, s.Stop().Samples)
	require.NoError(t, s.Close())
	_, err := lib.DeviceCount()
	require.ErrorIs(t, err, gpuenv.ErrNotInitialized, "Close gives the reference back")

	s.Start("after close")
	require.Equal(t, gpuenv.Peaks{}, s.Stop())
	require.NoError(t, s.Close(), "Close twice is harmless")
}

// On this machine (no driver) the real library gives a sampler that records nothing.
func TestSamplerRealNVMLWithoutDriver(t *testing.T) {
	if hasGPU() {
		t.Skip("this machine has an NVIDIA driver and GPU")
	}
	s := gpuenv.NewSampler(nvmlbind.New(), time.Millisecond, nil)
	s.Start("train")
	require.Equal(t, gpuenv.Peaks{}, s.Stop())
	require.NoError(t, s.Close())
}

func TestSamplerKeepsTheFirstError(t *testing.T) {
	fake := gpufake.NewRTX4090()
	fake.GPU(0).GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
	}
	var csv syncBuffer
	s := gpuenv.NewSampler(open(t, fake), time.Hour, &csv)
	s.Start("train")
	p := s.Stop()
	require.NoError(t, s.Close())
	require.Equal(t, "GPU 0: read utilization: ERROR_GPU_IS_LOST", p.Err)
	require.Equal(t, uint32(34), p.MaxTempC, "the other readings are kept")
	require.True(t, strings.HasSuffix(csv.rows()[0], ",train,0,2,,34,21.5,210,0x1,4,16"), "unknown values are empty cells: %s", csv.rows()[0])
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSamplerCloseReportsWriteErrors(t *testing.T) {
	s := gpuenv.NewSampler(open(t, gpufake.NewRTX4090()), time.Hour, failingWriter{})
	s.Start("train")
	require.Equal(t, 1, s.Stop().Samples)
	require.EqualError(t, s.Close(), "write telemetry: disk full")
}

// The clocks and the PCIe link count only in samples taken at load: utilisation above 0 and the
// GPU-idle clock-event reason clear. An idle GPU lowers both to save power.
func TestSamplerPeaksAtLoad(t *testing.T) {
	fake := gpufake.NewH200(gpufake.OnGPU(2, gpufake.WithLoad(gpufake.TrainingLoad), gpufake.WithPCIeLink(4, 8)))
	d := fake.GPU(5)
	// Sample 1: utilisation over the last period, but idle now (link at gen 1): not at load.
	// Samples 2 and 3: at load, the clock held down by a power cap and then a HW slowdown.
	util := sequence[uint32](30, 90, 95)
	reasons := sequence[uint64](nvml.ClocksEventReasonGpuIdle, nvml.ClocksEventReasonSwPowerCap, nvml.ClocksThrottleReasonHwSlowdown|nvml.ClocksEventReasonSwPowerCap)
	clock := sequence[uint32](345, 1755, 1410)
	gen := sequence(1, 5, 3)
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: util()}, nvml.SUCCESS }
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return reasons(), nvml.SUCCESS }
	d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return clock(), nvml.SUCCESS }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return gen(), nvml.SUCCESS }
	var csv syncBuffer
	s := gpuenv.NewSampler(open(t, fake), 5*time.Millisecond, &csv)
	s.Start("train")
	require.Eventually(t, func() bool { return len(csv.rows()) >= 3*8 }, 5*time.Second, time.Millisecond)
	p := s.Stop()
	require.NoError(t, s.Close())

	require.Equal(t, []gpuenv.LoadPeaks{
		{GPU: 2, Samples: p.Samples, MinSMClockMHz: 1980, MinPCIeGen: 4, MinPCIeWidth: 8},
		{GPU: 5, Samples: p.Samples - 1, MinSMClockMHz: 1410, ClockEvents: []string{"SW power cap", "HW slowdown"}, MinPCIeGen: 3, MinPCIeWidth: 16},
	}, p.AtLoad)
	require.Equal(t, gpuenv.LoadPeaks{GPU: 5, Samples: p.Samples - 1, MinSMClockMHz: 1410, ClockEvents: []string{"SW power cap", "HW slowdown"}, MinPCIeGen: 3, MinPCIeWidth: 16}, p.Load(5))
	require.Equal(t, gpuenv.LoadPeaks{GPU: 0}, p.Load(0), "a GPU never at load: zero")
	require.Contains(t, csv.String(), ",train,2,900,97,62,380,1980,0x0,4,8\n")

	s = gpuenv.NewSampler(open(t, fake), time.Hour, nil)
	s.Start("next")
	require.Equal(t, 1, s.Stop().Load(5).Samples, "each step starts afresh")
	require.NoError(t, s.Close())
}
