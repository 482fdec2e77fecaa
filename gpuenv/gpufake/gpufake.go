// Package gpufake builds NVML fakes for tests: go-nvml mock servers with every call gpuenv makes
// filled in, an RTX 4090 and a DGX H200, and the faults the health preflight must catch.
//
// Wrap a fake with nvmlbind.FromNVML to get a gpuenv.Library. Faults apply to GPU 0, or to the
// GPU OnGPU names. A GPU idles (no utilisation, idle SM clock, the GPU-idle clock-event reason)
// until a Load with utilisation says otherwise (WithLoad, WithBusy, SetLoad); its current PCIe
// link is its maximum, idle or not, unless WithPCIeLink trains it lower.
package gpufake

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// RTX4090 is the GPU configuration of a GeForce RTX 4090 (AD102, 24 GiB GDDR6X).
var RTX4090 = gpus.Config{
	Name:         "NVIDIA GeForce RTX 4090",
	Architecture: nvml.DEVICE_ARCH_ADA,
	Brand:        nvml.BRAND_GEFORCE,
	MemoryMB:     24564, // what nvidia-smi shows as total
	CudaMajor:    8,
	CudaMinor:    9,
	PciDeviceId:  0x268410DE,
}

// The RTX 4090 fake's driver: a current consumer branch.
const (
	RTX4090Driver = "560.35.03"
	RTX4090NVML   = "12.560.35.03"
	RTX4090CUDA   = 12060 // "12.6"
)

// Fake is a mock NVML server; it implements nvml.Interface.
type Fake struct {
	*server.Server

	mu     sync.Mutex
	xids   []nvml.EventData // delivered one per event-set Wait
	loads  []Load
	target int // the GPU the fault options change (OnGPU)
}

// Load is the telemetry a fake GPU reports.
type Load struct {
	MemUsedMiB uint64 // allocated, without the driver's reservation
	UtilPct    uint32
	TempC      uint32
	PowerMW    uint32
}

// Option changes a fake; the fault options change GPU 0, or the GPU OnGPU names.
type Option func(*Fake)

// board holds the figures a go-nvml gpus.Config lacks.
type board struct {
	busID            func(i int) string
	uuid             func(i int) string
	persistence, ecc nvml.EnableState
	eccSupported     bool
	migSupported     bool
	remapSupported   bool
	powerLimitMW     uint32
	maxSMMHz         uint32
	idleSMMHz        uint32
	maxMemMHz        uint32
	pcieGen          int
	pcieWidth        int
	reservedMiB      uint64
	idle             Load
}

var rtx4090Board = board{
	busID:        func(int) string { return "00000000:01:00.0" },
	uuid:         func(int) string { return "GPU-00000000-0000-4000-8000-000000004090" },
	persistence:  nvml.FEATURE_ENABLED,
	ecc:          nvml.FEATURE_DISABLED, // GeForce ships with ECC off
	eccSupported: true,
	powerLimitMW: 450_000,
	maxSMMHz:     3120,
	idleSMMHz:    210,
	maxMemMHz:    10501,
	pcieGen:      4,
	pcieWidth:    16,
	reservedMiB:  348,
	idle:         Load{MemUsedMiB: 2, UtilPct: 0, TempC: 34, PowerMW: 21_500},
}

// dgxH200BusIDs are the PCI buses of the eight GPUs in a DGX H200.
var dgxH200BusIDs = []int{0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb}

var h200Board = board{
	busID:          func(i int) string { return fmt.Sprintf("00000000:%02X:00.0", dgxH200BusIDs[i%8]) },
	uuid:           func(i int) string { return fmt.Sprintf("GPU-00000000-0000-4000-8000-0000000002%02d", i) },
	persistence:    nvml.FEATURE_ENABLED,
	ecc:            nvml.FEATURE_ENABLED,
	eccSupported:   true,
	migSupported:   true,
	remapSupported: true,
	powerLimitMW:   700_000,
	maxSMMHz:       1980,
	idleSMMHz:      345,
	maxMemMHz:      3201,
	pcieGen:        5,
	pcieWidth:      16,
	reservedMiB:    552,
	idle:           Load{MemUsedMiB: 0, UtilPct: 0, TempC: 29, PowerMW: 76_250},
}

// NewRTX4090 is a machine with one RTX 4090 on driver 560.35.03 (CUDA 12.6), healthy and idle.
func NewRTX4090(opts ...Option) *Fake {
	s, _ := server.New(
		server.WithGPUs(RTX4090),
		server.WithDriverVersion(RTX4090Driver),
		server.WithNVMLVersion(RTX4090NVML),
		server.WithCUDADriverVersion(RTX4090CUDA),
	)
	return build(s, rtx4090Board, opts)
}

// NewH200 is go-nvml's DGX H200 (eight H200 141GB, driver 550.54.15, CUDA 12.4) with every
// call gpuenv makes filled in, healthy and idle.
func NewH200(opts ...Option) *Fake {
	return build(dgxh200.New(), h200Board, opts)
}

// NoGPU is a machine whose driver loads but enumerates no GPU.
func NoGPU() *Fake {
	s, _ := server.New(
		server.WithDriverVersion(RTX4090Driver),
		server.WithNVMLVersion(RTX4090NVML),
		server.WithCUDADriverVersion(RTX4090CUDA),
	)
	return build(s, rtx4090Board, nil)
}

// FailInit is a library whose Init fails with ret, as the real one does without a driver
// (nvml.ERROR_LIBRARY_NOT_FOUND) or with its kernel module unloaded (ERROR_DRIVER_NOT_LOADED).
func FailInit(ret nvml.Return) nvml.Interface {
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return ret },
		ShutdownFunc: func() nvml.Return { return nvml.ERROR_UNINITIALIZED },
	}
}

// NoDriver is FailInit(nvml.ERROR_LIBRARY_NOT_FOUND): libnvidia-ml.so.1 cannot be loaded.
func NoDriver() nvml.Interface { return FailInit(nvml.ERROR_LIBRARY_NOT_FOUND) }

// SetLoad sets the telemetry GPU gpu reports from now on.
func (f *Fake) SetLoad(gpu int, l Load) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads[gpu] = l
}

func (f *Fake) load(gpu int) Load {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads[gpu]
}

// GPU returns device i of the fake, to override one of its calls.
func (f *Fake) GPU(i int) *server.Device { return f.Devices[i].(*server.Device) }

// InjectXid queues an Xid critical error on GPU gpu; the next event-set Wait delivers it.
func (f *Fake) InjectXid(gpu int, xid uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.xids = append(f.xids, nvml.EventData{
		Device:    f.Devices[gpu],
		EventType: nvml.EventTypeXidCriticalError,
		EventData: xid,
	})
}

func build(s *server.Server, b board, opts []Option) *Fake {
	f := &Fake{Server: s, loads: make([]Load, len(s.Devices))}
	s.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: f.wait,
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	for i := range s.Devices {
		f.loads[i] = b.idle
		f.fill(i, b)
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

func (f *Fake) wait(uint32) (nvml.EventData, nvml.Return) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.xids) == 0 {
		return nvml.EventData{}, nvml.ERROR_TIMEOUT
	}
	e := f.xids[0]
	f.xids = f.xids[1:]
	return e, nvml.SUCCESS
}

// fill sets every call gpuenv makes on one device; the go-nvml server sets name, UUID, memory,
// compute capability and MIG mode from the gpus.Config.
func (f *Fake) fill(i int, b board) {
	const mib = 1 << 20
	d := f.GPU(i)
	d.UUID = b.uuid(i)
	d.PciBusID = b.busID(i)
	total := d.Config.MemoryMB * mib
	used := func() uint64 { return f.load(i).MemUsedMiB * mib }
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		p := nvml.PciInfo{PciDeviceId: d.Config.PciDeviceId}
		for j := 0; j < len(d.PciBusID) && j < len(p.BusId)-1; j++ {
			p.BusId[j] = int8(d.PciBusID[j])
		}
		return p, nvml.SUCCESS
	}
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		u := used() + b.reservedMiB*mib
		return nvml.Memory{Total: total, Used: u, Free: total - u}, nvml.SUCCESS
	}
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		r := b.reservedMiB * mib
		return nvml.Memory_v2{Total: total, Reserved: r, Used: used(), Free: total - r - used()}, nvml.SUCCESS
	}
	d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return b.persistence, nvml.SUCCESS }
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
		if !b.eccSupported {
			return 0, 0, nvml.ERROR_NOT_SUPPORTED
		}
		return b.ecc, b.ecc, nvml.SUCCESS
	}
	d.GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) {
		if b.ecc != nvml.FEATURE_ENABLED {
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		return 0, nvml.SUCCESS
	}
	if !b.migSupported {
		d.GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED }
	}
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return b.powerLimitMW, nvml.SUCCESS }
	d.GetMaxClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		switch c {
		case nvml.CLOCK_SM, nvml.CLOCK_GRAPHICS:
			return b.maxSMMHz, nvml.SUCCESS
		case nvml.CLOCK_MEM:
			return b.maxMemMHz, nvml.SUCCESS
		}
		return 0, nvml.ERROR_INVALID_ARGUMENT
	}
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return b.pcieGen, nvml.SUCCESS }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return b.pcieWidth, nvml.SUCCESS }
	// Page retirement is the pre-Ampere mechanism; Ampere and later datacenter GPUs remap rows.
	d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
		if !b.remapSupported {
			return 0, 0, false, false, nvml.ERROR_NOT_SUPPORTED
		}
		return 0, 0, false, false, nvml.SUCCESS
	}
	f.fillClocks(i, b)
	none := func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS }
	d.GetComputeRunningProcessesFunc = none
	d.GetGraphicsRunningProcessesFunc = none
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: f.load(i).UtilPct}, nvml.SUCCESS
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return f.load(i).TempC, nvml.SUCCESS }
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return f.load(i).PowerMW, nvml.SUCCESS }
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
}

// fillClocks sets device i's current clocks, clock-event reasons and PCIe link: at its maximum
// under load, the SM clock at idle and the GPU-idle reason set otherwise; the link at its maximum.
func (f *Fake) fillClocks(i int, b board) {
	d := f.GPU(i)
	atLoad := func() bool { return f.load(i).UtilPct > 0 }
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		switch {
		case c != nvml.CLOCK_SM && c != nvml.CLOCK_GRAPHICS && c != nvml.CLOCK_MEM:
			return 0, nvml.ERROR_INVALID_ARGUMENT
		case c == nvml.CLOCK_MEM:
			return b.maxMemMHz, nvml.SUCCESS
		case atLoad():
			return b.maxSMMHz, nvml.SUCCESS
		}
		return b.idleSMMHz, nvml.SUCCESS
	}
	reasons := func() (uint64, nvml.Return) {
		if atLoad() {
			return nvml.ClocksEventReasonNone, nvml.SUCCESS
		}
		return nvml.ClocksEventReasonGpuIdle, nvml.SUCCESS
	}
	d.GetCurrentClocksEventReasonsFunc = reasons
	d.GetCurrentClocksThrottleReasonsFunc = reasons
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return b.pcieGen, nvml.SUCCESS }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return b.pcieWidth, nvml.SUCCESS }
}
