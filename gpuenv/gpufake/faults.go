package gpufake

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Each fault changes the target GPU: GPU 0, or the one OnGPU names.

// OnGPU applies opts to GPU i instead of GPU 0: OnGPU(3, WithXid(79), WithECCErrors(2)). i must
// be one of the fake's GPUs.
func OnGPU(i int, opts ...Option) Option {
	return func(f *Fake) {
		if i < 0 || i >= len(f.Devices) {
			panic(fmt.Sprintf("gpufake.OnGPU(%d): the fake has %d GPU(s)", i, len(f.Devices)))
		}
		prev := f.target
		f.target = i
		defer func() { f.target = prev }()
		for _, o := range opts {
			o(f)
		}
	}
}

// WithECCErrors turns ECC on and gives the target GPU n volatile uncorrectable ECC errors.
func WithECCErrors(n uint64) Option {
	return func(f *Fake) {
		d := f.GPU(f.target)
		d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_ENABLED, nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
		d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
			if t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.VOLATILE_ECC {
				return n, nvml.SUCCESS
			}
			return 0, nvml.SUCCESS
		}
	}
}

// WithRetiredPagesPending gives the target GPU memory pages waiting to be retired.
func WithRetiredPagesPending() Option {
	return func(f *Fake) {
		f.GPU(f.target).GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
	}
}

// WithRemapFailure makes the target GPU report a failed row remapping (one uncorrectable row).
func WithRemapFailure() Option {
	return func(f *Fake) {
		f.GPU(f.target).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
			return 0, 1, false, true, nvml.SUCCESS
		}
	}
}

// WithLostGPU makes the target GPU fall off the bus: its handle is still there, every query on
// it returns nvml.ERROR_GPU_IS_LOST.
func WithLostGPU() Option {
	return func(f *Fake) { failAll(f, f.target, nvml.ERROR_GPU_IS_LOST) }
}

// WithUnreadableDevice makes the target GPU's handle unobtainable (nvml.ERROR_UNKNOWN), as NVML reports
// a device it enumerates but cannot open.
func WithUnreadableDevice() Option {
	return func(f *Fake) {
		byIndex, target := f.DeviceGetHandleByIndexFunc, f.target
		f.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
			if i == target {
				return nil, nvml.ERROR_UNKNOWN
			}
			return byIndex(i)
		}
	}
}

// WithThrottle makes the target GPU report the clock-event reasons in mask
// (nvml.ClocksEventReason* and nvml.ClocksThrottleReason* bits), idle or at load.
func WithThrottle(mask uint64) Option {
	return func(f *Fake) {
		d := f.GPU(f.target)
		reasons := func() (uint64, nvml.Return) { return mask, nvml.SUCCESS }
		d.GetCurrentClocksEventReasonsFunc = reasons
		d.GetCurrentClocksThrottleReasonsFunc = reasons
	}
}

// BusyLoad is what the target GPU reports under WithBusy: someone else's training job.
var BusyLoad = Load{MemUsedMiB: 18432, UtilPct: 100, TempC: 71, PowerMW: 402_000}

// WithBusy gives the target GPU another process: one compute process holding 18 GiB, at 100%.
func WithBusy() Option {
	return func(f *Fake) {
		f.loads[f.target] = BusyLoad
		f.GPU(f.target).GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: BusyLoad.MemUsedMiB << 20}}, nvml.SUCCESS
		}
	}
}

// TrainingLoad is a GPU running the smoke run's own training: busy, warm, and holding less
// memory than the health preflight's "already busy" threshold (1 GiB), so that a fake under it
// still passes preflight.
var TrainingLoad = Load{MemUsedMiB: 900, UtilPct: 97, TempC: 62, PowerMW: 380_000}

// WithLoad makes the target GPU report l from the start, as if the run's training were on it
// all along: a fake GPU otherwise idles, and nothing measured at load (the SM clock, the PCIe
// link) shows in its samples.
func WithLoad(l Load) Option {
	return func(f *Fake) { f.loads[f.target] = l }
}

// WithPCIeLink trains the target GPU's current PCIe link at gen and width: a link below the
// maximum (a riser at x4, a slot at gen 3) that the samples show under load.
func WithPCIeLink(gen, width int) Option {
	return func(f *Fake) {
		d := f.GPU(f.target)
		d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return gen, nvml.SUCCESS }
		d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return width, nvml.SUCCESS }
	}
}

// WithPersistenceOff turns persistence mode off on the target GPU.
func WithPersistenceOff() Option {
	return func(f *Fake) {
		f.GPU(f.target).GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_DISABLED, nvml.SUCCESS
		}
	}
}

// WithXid queues one Xid critical error on the target GPU; the first event-set Wait delivers it.
func WithXid(xid uint64) Option {
	return func(f *Fake) { f.InjectXid(f.target, xid) }
}

// failAll makes every call gpuenv makes on GPU gpu return ret.
func failAll(f *Fake, gpu int, ret nvml.Return) {
	d := f.GPU(gpu)
	d.GetNameFunc = func() (string, nvml.Return) { return "", ret }
	d.GetUUIDFunc = func() (string, nvml.Return) { return "", ret }
	d.GetIndexFunc = func() (int, nvml.Return) { return 0, ret }
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) { return nvml.PciInfo{}, ret }
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, ret }
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) { return nvml.Memory_v2{}, ret }
	d.GetCudaComputeCapabilityFunc = func() (int, int, nvml.Return) { return 0, 0, ret }
	d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return 0, ret }
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) { return 0, 0, ret }
	d.GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, ret }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 0, ret }
	d.GetMaxClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, ret }
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 0, ret }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return 0, ret }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 0, ret }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return 0, ret }
	d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, ret }
	d.GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) { return 0, ret }
	d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return 0, ret }
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, ret }
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return 0, ret }
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) { return 0, ret }
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, ret }
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, ret }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, ret }
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, ret }
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, ret }
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return ret }
}
