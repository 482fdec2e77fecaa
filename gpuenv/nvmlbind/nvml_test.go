package nvmlbind

import (
	"errors"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
)

// open wraps an nvml.Interface and initialises it for the length of the test.
func open(t *testing.T, iface nvml.Interface) gpuenv.Library {
	t.Helper()
	lib := FromNVML(iface)
	require.NoError(t, lib.Init())
	t.Cleanup(func() { require.NoError(t, lib.Shutdown()) })
	return lib
}

func TestRTX4090FakeReadsAsARealBoard(t *testing.T) {
	lib := open(t, gpufake.NewRTX4090())

	sys, err := lib.System()
	require.NoError(t, err)
	require.Equal(t, gpuenv.System{DriverVersion: "560.35.03", CUDADriverVersion: 12060, NVMLVersion: "12.560.35.03"}, sys)

	n, err := lib.DeviceCount()
	require.NoError(t, err)
	require.Equal(t, 1, n)

	g, err := lib.GPU(0)
	require.NoError(t, err)
	require.Equal(t, gpuenv.GPU{
		Index:             0,
		Name:              "NVIDIA GeForce RTX 4090",
		UUID:              "GPU-00000000-0000-4000-8000-000000004090",
		PCIBusID:          "00000000:01:00.0",
		MemoryTotalBytes:  24564 << 20,
		ComputeCapability: "8.9",
		PersistenceMode:   "enabled",
		ECCMode:           "disabled",
		MIGMode:           "n/a",
		PowerLimitWatts:   450,
		MaxSMClockMHz:     3120,
		MaxMemClockMHz:    10501,
		PCIeGen:           4,
		PCIeWidth:         16,
	}, g)

	h, err := lib.Health(0)
	require.NoError(t, err)
	require.Equal(t, gpuenv.DeviceHealth{
		ECCUncorrected:    -1, // ECC is off on GeForce
		ClockEventReasons: gpuenv.ClockEventGPUIdle,
		Processes:         0,
		MemoryUsedBytes:   2 << 20, // v2 "used": the driver's 348 MiB reservation is left out
	}, h)

	s, err := lib.Sample(0)
	require.NoError(t, err)
	require.Equal(t, gpuenv.Sample{MemUsedMiB: 2, UtilPct: 0, TempC: 34, PowerW: 21.5,
		SMClockMHz: 210, ClockEventReasons: int64(gpuenv.ClockEventGPUIdle), PCIeGen: 4, PCIeWidth: 16}, s)
}

// Under a training load the fake's SM clock is its maximum and no clock-event reason is set;
// WithPCIeLink trains the link of the GPU OnGPU names below its maximum.
func TestFakeSamplesUnderLoad(t *testing.T) {
	lib := open(t, gpufake.NewH200(gpufake.OnGPU(5, gpufake.WithLoad(gpufake.TrainingLoad), gpufake.WithPCIeLink(3, 4))))
	s, err := lib.Sample(5)
	require.NoError(t, err)
	require.Equal(t, gpuenv.Sample{MemUsedMiB: 900, UtilPct: 97, TempC: 62, PowerW: 380,
		SMClockMHz: 1980, ClockEventReasons: 0, PCIeGen: 3, PCIeWidth: 4}, s)
	s, err = lib.Sample(4)
	require.NoError(t, err)
	require.Equal(t, gpuenv.Sample{MemUsedMiB: 0, UtilPct: 0, TempC: 29, PowerW: 76.25,
		SMClockMHz: 345, ClockEventReasons: int64(gpuenv.ClockEventGPUIdle), PCIeGen: 5, PCIeWidth: 16}, s, "the other GPUs idle at their maximum link")
}

// A driver older than r535 lacks nvmlDeviceGetCurrentClocksEventReasons: Sample falls back to
// the throttle-reasons call, as Health does. A value NVML cannot give reads -1.
func TestSampleReadsWhatTheDriverHas(t *testing.T) {
	fake := gpufake.NewRTX4090()
	d := fake.GPU(0)
	d.GetCurrentClocksEventReasonsFunc = nil // a bare mock's call panics: read as not supported
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) { return gpuenv.ClockEventSWPowerCap, nvml.SUCCESS }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetCurrPcieLinkWidthFunc = nil
	d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NO_PERMISSION }
	lib := open(t, oldDriver{fake})
	s, err := lib.Sample(0)
	require.NoError(t, err)
	require.Equal(t, gpuenv.Sample{MemUsedMiB: 2, UtilPct: 0, TempC: 34, PowerW: 21.5,
		SMClockMHz: -1, ClockEventReasons: int64(gpuenv.ClockEventSWPowerCap), PCIeGen: -1, PCIeWidth: -1}, s)

	d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_GPU_IS_LOST }
	s, err = lib.Sample(0)
	require.EqualError(t, err, "GPU 0: read SM clock: ERROR_GPU_IS_LOST")
	require.Equal(t, int64(-1), s.SMClockMHz)
}

// oldDriver is a driver before r535: it has no nvmlDeviceGetCurrentClocksEventReasons.
type oldDriver struct{ *gpufake.Fake }

func (d oldDriver) Extensions() nvml.ExtendedInterface { return oldSymbols{} }

type oldSymbols struct{}

func (oldSymbols) LookupSymbol(name string) error {
	if name == "nvmlDeviceGetCurrentClocksEventReasons" {
		return errors.New("undefined symbol: " + name)
	}
	return nil
}

func TestH200FakeHasEightHealthyGPUs(t *testing.T) {
	lib := open(t, gpufake.NewH200())
	n, err := lib.DeviceCount()
	require.NoError(t, err)
	require.Equal(t, 8, n)
	g, err := lib.GPU(7)
	require.NoError(t, err)
	require.Equal(t, "NVIDIA H200 141GB HBM3e", g.Name)
	require.Equal(t, "00000000:DB:00.0", g.PCIBusID)
	require.Equal(t, "9.0", g.ComputeCapability)
	require.Equal(t, "enabled", g.ECCMode)
	require.Equal(t, "disabled", g.MIGMode)
	require.Equal(t, uint64(144384)<<20, g.MemoryTotalBytes)
	require.Equal(t, 5, g.PCIeGen)
	h, err := lib.Health(7)
	require.NoError(t, err)
	require.Equal(t, int64(0), h.ECCUncorrected)
	require.False(t, h.RowRemapFailed)
}

// A bare go-nvml mock sets only a few calls; the others panic. Through FromNVML they read as
// not supported instead of crashing the suite.
func TestBareMockReadsUnsetCallsAsNotSupported(t *testing.T) {
	lib := open(t, dgxa100.New())
	g, err := lib.GPU(0)
	require.NoError(t, err)
	require.Equal(t, "Mock NVIDIA A100-SXM4-40GB", g.Name)
	require.Equal(t, "8.0", g.ComputeCapability)
	require.Equal(t, "n/a", g.PersistenceMode)
	require.Equal(t, "disabled", g.MIGMode)
	require.Zero(t, g.PowerLimitWatts)

	h, err := lib.Health(0)
	require.NoError(t, err)
	require.Equal(t, int64(-1), h.ECCUncorrected)
	require.Equal(t, -1, h.Processes)

	_, err = lib.WatchXid()
	require.ErrorIs(t, err, gpuenv.ErrNotSupported)
}

func TestQueriesOutsideInitReturnErrNotInitialized(t *testing.T) {
	for name, lib := range map[string]gpuenv.Library{"fake": FromNVML(gpufake.NewRTX4090()), "real": New()} {
		t.Run(name, func(t *testing.T) {
			_, err := lib.DeviceCount()
			require.ErrorIs(t, err, gpuenv.ErrNotInitialized)
			_, err = lib.Sample(0)
			require.ErrorIs(t, err, gpuenv.ErrNotInitialized)
			require.ErrorIs(t, lib.Shutdown(), gpuenv.ErrNotInitialized)
		})
	}
}

func TestInitIsReferenceCounted(t *testing.T) {
	lib := FromNVML(gpufake.NewRTX4090())
	require.NoError(t, lib.Init())
	require.NoError(t, lib.Init())
	require.NoError(t, lib.Shutdown())
	_, err := lib.DeviceCount()
	require.NoError(t, err, "one Shutdown of two Inits keeps the library open")
	require.NoError(t, lib.Shutdown())
	_, err = lib.DeviceCount()
	require.ErrorIs(t, err, gpuenv.ErrNotInitialized)
}

func TestLostGPUErrorsWrapErrGPULost(t *testing.T) {
	lib := open(t, gpufake.NewRTX4090(gpufake.WithLostGPU()))
	g, err := lib.GPU(0)
	require.ErrorIs(t, err, gpuenv.ErrGPULost)
	require.EqualError(t, err, "GPU 0: read name: ERROR_GPU_IS_LOST")
	require.Equal(t, 0, g.Index)
	_, err = lib.Sample(0)
	require.ErrorIs(t, err, gpuenv.ErrGPULost)
}

func TestFailedInitSaysWhy(t *testing.T) {
	err := FromNVML(gpufake.NoDriver()).Init()
	require.EqualError(t, err, "nvml init: ERROR_LIBRARY_NOT_FOUND (libnvidia-ml.so.1 not found: no NVIDIA driver installed)")
	err = FromNVML(gpufake.FailInit(nvml.ERROR_DRIVER_NOT_LOADED)).Init()
	require.ErrorContains(t, err, "kernel driver is not loaded")
}

// On a machine without a driver the real library fails at Init, quickly. Where a driver and
// GPU exist (the device machine) it reads them instead.
func TestNew(t *testing.T) {
	lib := New()
	start := time.Now()
	err := lib.Init()
	if err != nil {
		require.Less(t, time.Since(start), 2*time.Second)
		require.ErrorContains(t, err, "nvml init: ")
		return
	}
	defer lib.Shutdown()
	sys, err := lib.System()
	require.NoError(t, err)
	require.NotEmpty(t, sys.DriverVersion)
	require.Greater(t, sys.CUDADriverVersion, 11000)
	n, err := lib.DeviceCount()
	require.NoError(t, err)
	require.Positive(t, n)
	g, err := lib.GPU(0)
	require.NoError(t, err)
	require.NotEmpty(t, g.Name)
	require.Regexp(t, `^\d+\.\d+$`, g.ComputeCapability)
	s, err := lib.Sample(0)
	require.NoError(t, err)
	require.GreaterOrEqual(t, s.TempC, int64(0))
	w, err := lib.WatchXid()
	if err == nil {
		start := time.Now()
		_, err := w.Poll()
		require.NoError(t, err)
		require.Less(t, time.Since(start), 100*time.Millisecond, "Poll must not block")
		require.NoError(t, w.Close())
	} else {
		require.True(t, errors.Is(err, gpuenv.ErrNotSupported), "WatchXid: %v", err)
	}
}

// gpuenv writes NVML's clock-event bits out as plain constants so that it needs no cgo; each must
// equal go-nvml's.
func TestClockEventBitsMatchNVML(t *testing.T) {
	for name, c := range map[string]struct{ gpuenv, nvml uint64 }{
		"GPUIdle":         {gpuenv.ClockEventGPUIdle, nvml.ClocksEventReasonGpuIdle},
		"ApplicationsSet": {gpuenv.ClockEventApplicationsSet, nvml.ClocksEventReasonApplicationsClocksSetting},
		"SWPowerCap":      {gpuenv.ClockEventSWPowerCap, nvml.ClocksEventReasonSwPowerCap},
		"HWSlowdown":      {gpuenv.ClockEventHWSlowdown, nvml.ClocksThrottleReasonHwSlowdown},
		"SWThermal":       {gpuenv.ClockEventSWThermal, nvml.ClocksEventReasonSwThermalSlowdown},
		"HWThermal":       {gpuenv.ClockEventHWThermal, nvml.ClocksThrottleReasonHwThermalSlowdown},
		"HWPowerBrake":    {gpuenv.ClockEventHWPowerBrake, nvml.ClocksThrottleReasonHwPowerBrakeSlowdown},
		"SyncBoost":       {gpuenv.ClockEventSyncBoost, nvml.ClocksEventReasonSyncBoost},
		"DisplayClock":    {gpuenv.ClockEventDisplayClock, nvml.ClocksEventReasonDisplayClockSetting},
	} {
		require.Equal(t, c.nvml, c.gpuenv, "gpuenv.ClockEvent%s", name)
	}
}
