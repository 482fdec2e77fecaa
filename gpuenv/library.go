package gpuenv

import "errors"

// The NVML binding lives in gpuenv/nvmlbind, the only code apart from tests and their fakes that
// imports go-nvml (and with it cgo): gpuenv sees NVML through Library and plain values, and
// builds with CGO_ENABLED=0 (TestNoCgoDependencies).

// Library is the part of NVML that gpuenv needs. Init and Shutdown are reference counted like
// NVML's own: every successful Init needs one Shutdown. Queries before Init, or after the last
// Shutdown, return an error wrapping ErrNotInitialized and never reach the C library.
type Library interface {
	Init() error
	Shutdown() error
	// System reports the driver, its CUDA version and the NVML version.
	System() (System, error)
	// DeviceCount is the number of GPUs NVML enumerates, readable or not.
	DeviceCount() (int, error)
	// GPU reads the static facts of device i. On error the GPU still carries its index and
	// whatever was read; errors.Is(err, ErrGPULost) tells a GPU that fell off the bus.
	GPU(i int) (GPU, error)
	// Health reads the error counters and state the preflight judges.
	Health(i int) (DeviceHealth, error)
	// Sample reads the telemetry the Sampler records; values NVML cannot give read -1.
	Sample(i int) (Sample, error)
	// WatchXid registers every device for Xid critical-error events.
	WatchXid() (XidWatch, error)
}

// System is what NVML reports about the driver.
type System struct {
	DriverVersion string // "560.35.03"
	// CUDADriverVersion is the highest CUDA version the driver supports, as NVML encodes it
	// (1000*major + 10*minor: 12060 for 12.6).
	CUDADriverVersion int
	NVMLVersion       string // "12.560.35.03"
}

// DeviceHealth is the raw state of one GPU that the health preflight judges.
type DeviceHealth struct {
	// ECCUncorrected counts volatile (since the driver loaded) uncorrectable ECC errors;
	// -1 when ECC is off or not supported.
	ECCUncorrected int64
	// RetiredPagesPending means pages are waiting to be retired (pre-Ampere GPUs): the GPU
	// needs a reset before its memory can be trusted.
	RetiredPagesPending bool
	// RowRemapPending means a remapped row takes effect at the next reset (Ampere and later).
	RowRemapPending bool
	// RowRemapFailed means the GPU ran out of spare rows: the board needs service.
	RowRemapFailed bool
	// ClockEventReasons is NVML's bit mask of why clocks are held down (ClockEvent* bits).
	ClockEventReasons uint64
	// Processes counts compute and graphics processes on the GPU; -1 when unknown.
	Processes int
	// MemoryUsedBytes is allocated device memory, excluding what the driver reserves where the
	// driver can tell the two apart.
	MemoryUsedBytes uint64
}

// Clock-event reason bits of DeviceHealth.ClockEventReasons: NVML's nvmlClocksEventReason* (and
// nvmlClocksThrottleReason*) values from nvml.h, written out so that gpuenv needs no cgo.
// nvmlbind's tests check each against go-nvml's constant.
const (
	ClockEventGPUIdle         uint64 = 0x1   // nvmlClocksEventReasonGpuIdle
	ClockEventApplicationsSet uint64 = 0x2   // nvmlClocksEventReasonApplicationsClocksSetting
	ClockEventSWPowerCap      uint64 = 0x4   // nvmlClocksEventReasonSwPowerCap
	ClockEventHWSlowdown      uint64 = 0x8   // nvmlClocksThrottleReasonHwSlowdown
	ClockEventSyncBoost       uint64 = 0x10  // nvmlClocksEventReasonSyncBoost
	ClockEventSWThermal       uint64 = 0x20  // nvmlClocksEventReasonSwThermalSlowdown
	ClockEventHWThermal       uint64 = 0x40  // nvmlClocksThrottleReasonHwThermalSlowdown
	ClockEventHWPowerBrake    uint64 = 0x80  // nvmlClocksThrottleReasonHwPowerBrakeSlowdown
	ClockEventDisplayClock    uint64 = 0x100 // nvmlClocksEventReasonDisplayClockSetting
)

// Sample is one telemetry reading of one GPU. A value NVML cannot give is -1.
type Sample struct {
	MemUsedMiB int64
	UtilPct    int64
	TempC      int64
	PowerW     float64
	SMClockMHz int64 // the current SM clock
	// ClockEventReasons is NVML's bit mask of why clocks are held down now (ClockEvent* bits).
	ClockEventReasons int64
	// PCIeGen and PCIeWidth are the PCIe link as trained now; an idle GPU may drop its link to
	// save power, so only a reading under load says what the link can do.
	PCIeGen   int64
	PCIeWidth int64
}

// XidEvent is one Xid critical error reported by the driver.
type XidEvent struct {
	GPU int    `json:"gpu"` // -1 when the event names no known device
	Xid uint64 `json:"xid"`
}

// XidWatch delivers Xid events queued since the previous Poll.
type XidWatch interface {
	// Poll returns the queued events without blocking.
	Poll() ([]XidEvent, error)
	Close() error
}

var (
	// ErrNotInitialized is returned by queries made outside Init and Shutdown.
	ErrNotInitialized = errors.New("NVML not initialized")
	// ErrNotSupported marks a query the device, the driver or the permissions do not allow.
	ErrNotSupported = errors.New("not supported")
	// ErrGPULost marks a GPU that has fallen off the bus (NVML_ERROR_GPU_IS_LOST).
	ErrGPULost = errors.New("GPU has fallen off the bus")
)
