// Package gpuenv records the machine a smoke run ran on: GPUs over NVML, host, Python stack and GPU health.
package gpuenv

// SchemaVersion is the version of the gpu_env.json layout. Bump it when a field changes meaning.
const SchemaVersion = 1

// Facts is everything the suite records about the machine, written to gpu_env.json.
type Facts struct {
	SchemaVersion int    `json:"schema_version"`
	CollectedUTC  string `json:"collected_utc"` // RFC 3339
	NVML          NVML   `json:"nvml"`
	Host          Host   `json:"host"`
	Python        Python `json:"python"`
	// Health lists preflight findings; any Fatal finding fails preflight.
	Health []Finding `json:"health"`
	// Notes are cross-check remarks shown in the checklist (for example a torch/NVML name mismatch).
	Notes []string `json:"notes"`
}

// NVML is what the NVIDIA management library reports for the whole system.
type NVML struct {
	Available bool   `json:"available"`
	Error     string `json:"error,omitempty"` // why NVML is unavailable, e.g. "no NVIDIA driver/GPU: ..."
	// DriverVersion is the kernel driver, e.g. "550.54.15".
	DriverVersion string `json:"driver_version,omitempty"`
	// CUDADriverVersion is the highest CUDA version the driver supports, e.g. "12.4" (from 12040).
	CUDADriverVersion string `json:"cuda_driver_version,omitempty"`
	NVMLVersion       string `json:"nvml_version,omitempty"`
	GPUs              []GPU  `json:"gpus"`
}

// GPU is one device as NVML reports it.
type GPU struct {
	Index             int     `json:"index"`
	Name              string  `json:"name"`
	UUID              string  `json:"uuid"`
	PCIBusID          string  `json:"pci_bus_id"`
	MemoryTotalBytes  uint64  `json:"memory_total_bytes"`
	ComputeCapability string  `json:"compute_capability"` // "8.9"
	PersistenceMode   string  `json:"persistence_mode"`   // "enabled", "disabled" or "n/a"
	ECCMode           string  `json:"ecc_mode"`           // "enabled", "disabled" or "n/a"
	MIGMode           string  `json:"mig_mode"`           // "enabled", "disabled" or "n/a"
	PowerLimitWatts   float64 `json:"power_limit_watts"`
	MaxSMClockMHz     uint32  `json:"max_sm_clock_mhz"`
	MaxMemClockMHz    uint32  `json:"max_mem_clock_mhz"`
	// PCIeGen and PCIeWidth are the most the GPU and its slot support together (an x16 card in
	// an x8 slot reads 8); unlike the current link they do not drop while the GPU idles.
	PCIeGen   int `json:"pcie_gen"`
	PCIeWidth int `json:"pcie_width"`
}

// Host is the operating system and hardware around the GPUs.
type Host struct {
	Hostname    string `json:"hostname"`
	OS          string `json:"os"`     // PRETTY_NAME from /etc/os-release, else GOOS
	Kernel      string `json:"kernel"` // uname release
	Arch        string `json:"arch"`
	CPUModel    string `json:"cpu_model"`
	CPUCores    int    `json:"cpu_cores"`    // logical CPUs this process may run on
	MemoryBytes uint64 `json:"memory_bytes"` // MemTotal from /proc/meminfo
	// MemoryLimitBytes is the cgroup v2 memory limit of this container, when one is set.
	MemoryLimitBytes uint64 `json:"memory_limit_bytes,omitempty"`
	// SysVendor and ProductName come from /sys/class/dmi/id and name the cloud and instance type on most clouds.
	SysVendor   string `json:"sys_vendor,omitempty"`
	ProductName string `json:"product_name,omitempty"`
}

// NotInstalled is the version recorded for a Python package that cannot be imported.
const NotInstalled = "not installed"

// Python is the interpreter the steps run with, as probed in one subprocess.
type Python struct {
	Interpreter string `json:"interpreter"` // as configured (SMOKE_PYTHON)
	Executable  string `json:"executable"`  // sys.executable
	Version     string `json:"version"`
	Error       string `json:"error,omitempty"` // why the probe failed
	Torch       Torch  `json:"torch"`
	// Packages maps diffusers, transformers, datasets, torchvision, accelerate, numpy and Pillow
	// to their versions, or NotInstalled.
	Packages map[string]string `json:"packages"`
}

// Torch is PyTorch as the interpreter sees it.
type Torch struct {
	Version       string   `json:"version"`         // or NotInstalled
	CUDA          string   `json:"cuda,omitempty"`  // torch.version.cuda
	CuDNN         string   `json:"cudnn,omitempty"` // torch.backends.cudnn.version()
	CUDAAvailable bool     `json:"cuda_available"`
	Devices       []string `json:"devices,omitempty"` // torch.cuda.get_device_name(i)
	BF16Supported bool     `json:"bf16_supported"`
	// Error is why torch could not be imported or queried when it is installed.
	Error string `json:"error,omitempty"`
}

// Severity grades a health finding.
type Severity string

const (
	Fatal Severity = "fatal" // fails preflight
	Note  Severity = "note"  // shown in the checklist only
)

// Finding is one result of the health preflight or a cross-check.
type Finding struct {
	Severity Severity `json:"severity"`
	GPU      int      `json:"gpu"` // -1 when not about one device
	Message  string   `json:"message"`
	// always makes a Fatal cross-check fail preflight without -tags gpu too.
	always bool
}
