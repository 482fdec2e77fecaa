package gpufake

import (
	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// WithECCErrors turns ECC on and gives GPU 0 n volatile uncorrectable ECC errors.
func WithECCErrors(n uint64) Option {
	return func(f *Fake) {
		d := f.GPU(0)
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

// WithRetiredPagesPending gives GPU 0 memory pages waiting to be retired.
func WithRetiredPagesPending() Option {
	return func(f *Fake) {
		f.GPU(0).GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
	}
}

// WithRemapFailure makes GPU 0 report a failed row remapping (one uncorrectable row).
func WithRemapFailure() Option {
	return func(f *Fake) {
		f.GPU(0).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
			return 0, 1, false, true, nvml.SUCCESS
		}
	}
}

// WithLostGPU makes GPU 0 fall off the bus: its handle is still there, every query on it
// returns nvml.ERROR_GPU_IS_LOST.
func WithLostGPU() Option {
	return func(f *Fake) { failAll(f, 0, nvml.ERROR_GPU_IS_LOST) }
}

// WithUnreadableDevice makes GPU 0's handle unobtainable (nvml.ERROR_UNKNOWN), as NVML reports
// a device it enumerates but cannot open.
func WithUnreadableDevice() Option {
	return func(f *Fake) {
		byIndex := f.DeviceGetHandleByIndexFunc
		f.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
			if i == 0 {
				return nil, nvml.ERROR_UNKNOWN
			}
			return byIndex(i)
		}
	}
}

// WithThrottle makes GPU 0 report the clock-event reasons in mask (nvml.ClocksEventReason* and
// nvml.ClocksThrottleReason* bits).
func WithThrottle(mask uint64) Option {
	return func(f *Fake) {
		d := f.GPU(0)
		reasons := func() (uint64, nvml.Return) { return mask, nvml.SUCCESS }
		d.GetCurrentClocksEventReasonsFunc = reasons
		d.GetCurrentClocksThrottleReasonsFunc = reasons
	}
}

// BusyLoad is what GPU 0 reports under WithBusy: someone else's training job.
var BusyLoad = Load{MemUsedMiB: 18432, UtilPct: 100, TempC: 71, PowerMW: 402_000}

// WithBusy gives GPU 0 another process: one compute process holding 18 GiB, at 100%.
func WithBusy() Option {
	return func(f *Fake) {
		f.loads[0] = BusyLoad
		f.GPU(0).GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: BusyLoad.MemUsedMiB << 20}}, nvml.SUCCESS
		}
	}
}

// WithPersistenceOff turns persistence mode off on GPU 0.
func WithPersistenceOff() Option {
	return func(f *Fake) {
		f.GPU(0).GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_DISABLED, nvml.SUCCESS
		}
	}
}

// WithXid queues one Xid critical error on GPU 0; the first event-set Wait delivers it.
func WithXid(xid uint64) Option {
	return func(f *Fake) { f.InjectXid(0, xid) }
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
