// Package nvmlbind binds gpuenv.Library to NVIDIA's management library through go-nvml.
package nvmlbind

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/difftrain/gpusmoke/gpuenv"
)

// This package is the only code that imports go-nvml, apart from tests and their fakes
// (gpuenv/gpufake): every NVML return code becomes a Go error here, once, and gpuenv sees plain
// values.

// New returns the machine's NVIDIA management library. It builds and links without a driver:
// the shared library is opened at Init, which fails on a machine without one.
func New() gpuenv.Library { return FromNVML(nvml.New()) }

// FromNVML wraps any nvml.Interface, for example a go-nvml mock server. A call the interface
// does not implement (a mock whose function is nil panics) reads as not supported.
func FromNVML(iface nvml.Interface) gpuenv.Library { return &nvmlLibrary{iface: iface} }

type nvmlLibrary struct {
	iface nvml.Interface

	mu       sync.RWMutex // Init and Shutdown hold it for writing, every query for reading
	refs     int
	count    error
	devices  []nvml.Device
	devErrs  []error
	memoryV2 bool // the driver has nvmlDeviceGetMemoryInfo_v2 (r510 and later)
	events   bool // the driver has nvmlDeviceGetCurrentClocksEventReasons (r535 and later)
}

func (l *nvmlLibrary) Init() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refs > 0 {
		l.refs++
		return nil
	}
	if ret := call0(l.iface.Init); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml init: %s%s", ret.Error(), initHint(ret))
	}
	l.refs = 1
	l.memoryV2 = l.hasSymbol("nvmlDeviceGetMemoryInfo_v2")
	l.events = l.hasSymbol("nvmlDeviceGetCurrentClocksEventReasons")
	n, ret := call(l.iface.DeviceGetCount)
	if ret != nvml.SUCCESS {
		l.count = &nvmlError{op: "count devices", ret: ret}
		return nil
	}
	l.devices = make([]nvml.Device, n)
	l.devErrs = make([]error, n)
	for i := range n {
		d, ret := call(func() (nvml.Device, nvml.Return) { return l.iface.DeviceGetHandleByIndex(i) })
		if ret != nvml.SUCCESS {
			l.devErrs[i] = &nvmlError{op: fmt.Sprintf("GPU %d: get handle", i), ret: ret}
			continue
		}
		l.devices[i] = d
	}
	return nil
}

func initHint(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return " (libnvidia-ml.so.1 not found: no NVIDIA driver installed)"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return " (the NVIDIA kernel driver is not loaded)"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return " (NVML library and kernel driver versions differ: reboot or reload the driver)"
	case nvml.ERROR_NO_PERMISSION:
		return " (no permission to open /dev/nvidia*)"
	}
	return ""
}

// hasSymbol guards calls to functions older drivers lack: calling a missing symbol crashes.
func (l *nvmlLibrary) hasSymbol(name string) bool {
	ok := true
	func() {
		defer func() { _ = recover() }() // an interface without Extensions has no symbols to miss
		ok = l.iface.Extensions().LookupSymbol(name) == nil
	}()
	return ok
}

func (l *nvmlLibrary) Shutdown() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refs == 0 {
		return gpuenv.ErrNotInitialized
	}
	l.refs--
	if l.refs > 0 {
		return nil
	}
	l.devices, l.devErrs, l.count = nil, nil, nil
	if ret := call0(l.iface.Shutdown); ret != nvml.SUCCESS {
		return &nvmlError{op: "nvml shutdown", ret: ret}
	}
	return nil
}

func (l *nvmlLibrary) System() (gpuenv.System, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.refs == 0 {
		return gpuenv.System{}, gpuenv.ErrNotInitialized
	}
	r := reads{gpu: -1}
	var s gpuenv.System
	if v, ret := call(l.iface.SystemGetDriverVersion); r.must("driver version", ret) {
		s.DriverVersion = v
	}
	if v, ret := call(l.iface.SystemGetCudaDriverVersion); r.ok("CUDA driver version", ret) {
		s.CUDADriverVersion = v
	}
	if v, ret := call(l.iface.SystemGetNVMLVersion); r.ok("NVML version", ret) {
		s.NVMLVersion = v
	}
	return s, r.err
}

func (l *nvmlLibrary) DeviceCount() (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.refs == 0 {
		return 0, gpuenv.ErrNotInitialized
	}
	if l.count != nil {
		return 0, l.count
	}
	return len(l.devices), nil
}

// device returns the handle of GPU i; the caller holds l.mu for reading.
func (l *nvmlLibrary) device(i int) (nvml.Device, error) {
	if l.refs == 0 {
		return nil, gpuenv.ErrNotInitialized
	}
	if i < 0 || i >= len(l.devices) {
		return nil, fmt.Errorf("GPU %d: no such device (%d GPUs)", i, len(l.devices))
	}
	return l.devices[i], l.devErrs[i]
}

const notAvailable = "n/a"

func enabled(s nvml.EnableState) string {
	if s == nvml.FEATURE_ENABLED {
		return "enabled"
	}
	return "disabled"
}

func (l *nvmlLibrary) GPU(i int) (gpuenv.GPU, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	g := gpuenv.GPU{Index: i, PersistenceMode: notAvailable, ECCMode: notAvailable, MIGMode: notAvailable}
	d, err := l.device(i)
	if err != nil {
		return g, err
	}
	r := reads{gpu: i}
	if v, ret := call(d.GetName); r.must("name", ret) {
		g.Name = v
	}
	if v, ret := call(d.GetUUID); r.must("UUID", ret) {
		g.UUID = v
	}
	if v, ret := call(d.GetMemoryInfo); r.must("memory info", ret) {
		g.MemoryTotalBytes = v.Total
	}
	if v, ret := call(d.GetPciInfo); r.ok("PCI info", ret) {
		g.PCIBusID = cString(v.BusId[:])
	}
	cc, ret := call(func() ([2]int, nvml.Return) { a, b, r := d.GetCudaComputeCapability(); return [2]int{a, b}, r })
	if r.ok("compute capability", ret) {
		g.ComputeCapability = fmt.Sprintf("%d.%d", cc[0], cc[1])
	}
	if v, ret := call(d.GetPersistenceMode); r.ok("persistence mode", ret) {
		g.PersistenceMode = enabled(v)
	}
	ecc, ret := call(func() (nvml.EnableState, nvml.Return) { cur, _, r := d.GetEccMode(); return cur, r })
	if r.ok("ECC mode", ret) {
		g.ECCMode = enabled(ecc)
	}
	mig, ret := call(func() (int, nvml.Return) { cur, _, r := d.GetMigMode(); return cur, r })
	if r.ok("MIG mode", ret) {
		g.MIGMode = enabled(nvml.EnableState(mig))
	}
	if v, ret := call(d.GetEnforcedPowerLimit); r.ok("power limit", ret) {
		g.PowerLimitWatts = float64(v) / 1000
	}
	if v, ret := call(func() (uint32, nvml.Return) { return d.GetMaxClockInfo(nvml.CLOCK_SM) }); r.ok("max SM clock", ret) {
		g.MaxSMClockMHz = v
	}
	if v, ret := call(func() (uint32, nvml.Return) { return d.GetMaxClockInfo(nvml.CLOCK_MEM) }); r.ok("max memory clock", ret) {
		g.MaxMemClockMHz = v
	}
	if v, ret := call(d.GetMaxPcieLinkGeneration); r.ok("PCIe generation", ret) {
		g.PCIeGen = v
	}
	if v, ret := call(d.GetMaxPcieLinkWidth); r.ok("PCIe width", ret) {
		g.PCIeWidth = v
	}
	return g, r.err
}

func (l *nvmlLibrary) Health(i int) (gpuenv.DeviceHealth, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h := gpuenv.DeviceHealth{ECCUncorrected: -1, Processes: -1}
	d, err := l.device(i)
	if err != nil {
		return h, err
	}
	r := reads{gpu: i}
	ecc, ret := call(func() (uint64, nvml.Return) {
		return d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
	})
	if r.ok("ECC error count", ret) {
		h.ECCUncorrected = int64(ecc)
	}
	if v, ret := call(d.GetRetiredPagesPendingStatus); r.ok("retired pages", ret) {
		h.RetiredPagesPending = v == nvml.FEATURE_ENABLED
	}
	remap, ret := call(func() ([2]bool, nvml.Return) {
		_, _, pending, failed, r := d.GetRemappedRows()
		return [2]bool{pending, failed}, r
	})
	if r.ok("remapped rows", ret) {
		h.RowRemapPending, h.RowRemapFailed = remap[0], remap[1]
	}
	if v, ret := call(l.clockEventReasons(d)); r.ok("clock event reasons", ret) {
		h.ClockEventReasons = v
	}
	compute, ret1 := call(d.GetComputeRunningProcesses)
	graphics, ret2 := call(d.GetGraphicsRunningProcesses)
	if r.ok("compute processes", ret1) && r.ok("graphics processes", ret2) {
		h.Processes = len(compute) + len(graphics)
	}
	if v, ok := l.memoryUsed(d, &r); ok {
		h.MemoryUsedBytes = v
	}
	return h, r.err
}

// memoryUsed reads allocated memory, without the driver's reservation where the driver has v2.
func (l *nvmlLibrary) memoryUsed(d nvml.Device, r *reads) (uint64, bool) {
	if l.memoryV2 {
		v, ret := call(d.GetMemoryInfo_v2)
		if ret == nvml.SUCCESS {
			return v.Used, true
		}
		if !unavailable(ret) {
			return 0, r.ok("memory info", ret)
		}
	}
	v, ret := call(d.GetMemoryInfo)
	return v.Used, r.ok("memory info", ret)
}

func (l *nvmlLibrary) Sample(i int) (gpuenv.Sample, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := gpuenv.Sample{MemUsedMiB: -1, UtilPct: -1, TempC: -1, PowerW: -1, SMClockMHz: -1, ClockEventReasons: -1, PCIeGen: -1, PCIeWidth: -1}
	d, err := l.device(i)
	if err != nil {
		return s, err
	}
	r := reads{gpu: i}
	if v, ok := l.memoryUsed(d, &r); ok {
		s.MemUsedMiB = int64(v >> 20)
	}
	if v, ret := call(d.GetUtilizationRates); r.ok("utilization", ret) {
		s.UtilPct = int64(v.Gpu)
	}
	if v, ret := call(func() (uint32, nvml.Return) { return d.GetTemperature(nvml.TEMPERATURE_GPU) }); r.ok("temperature", ret) {
		s.TempC = int64(v)
	}
	if v, ret := call(d.GetPowerUsage); r.ok("power", ret) {
		s.PowerW = float64(v) / 1000
	}
	if v, ret := call(func() (uint32, nvml.Return) { return d.GetClockInfo(nvml.CLOCK_SM) }); r.ok("SM clock", ret) {
		s.SMClockMHz = int64(v)
	}
	if v, ret := call(l.clockEventReasons(d)); r.ok("clock event reasons", ret) {
		s.ClockEventReasons = int64(v)
	}
	if v, ret := call(d.GetCurrPcieLinkGeneration); r.ok("current PCIe generation", ret) {
		s.PCIeGen = int64(v)
	}
	if v, ret := call(d.GetCurrPcieLinkWidth); r.ok("current PCIe width", ret) {
		s.PCIeWidth = int64(v)
	}
	return s, r.err
}

// clockEventReasons is the call that reads d's clock-event reasons on this driver: the
// throttle-reasons call before r535, which lacks the events call.
func (l *nvmlLibrary) clockEventReasons(d nvml.Device) func() (uint64, nvml.Return) {
	if l.events {
		return d.GetCurrentClocksEventReasons
	}
	return d.GetCurrentClocksThrottleReasons
}

func (l *nvmlLibrary) WatchXid() (gpuenv.XidWatch, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.refs == 0 {
		return nil, gpuenv.ErrNotInitialized
	}
	set, ret := call(l.iface.EventSetCreate)
	if ret != nvml.SUCCESS {
		return nil, &nvmlError{op: "create event set", ret: ret}
	}
	registered := 0
	for _, d := range l.devices {
		if d == nil {
			continue
		}
		if call0(func() nvml.Return { return d.RegisterEvents(nvml.EventTypeXidCriticalError, set) }) == nvml.SUCCESS {
			registered++
		}
	}
	if registered == 0 {
		call0(set.Free)
		return nil, fmt.Errorf("register Xid events: no device accepts them: %w", gpuenv.ErrNotSupported)
	}
	return &xidWatch{l: l, set: set}, nil
}

type xidWatch struct {
	l   *nvmlLibrary
	set nvml.EventSet
}

// maxXidDrain bounds one Poll, so an event storm cannot hold the sampler.
const maxXidDrain = 64

func (w *xidWatch) Poll() ([]gpuenv.XidEvent, error) {
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	if w.l.refs == 0 || w.set == nil {
		return nil, gpuenv.ErrNotInitialized
	}
	var out []gpuenv.XidEvent
	for range maxXidDrain {
		// A zero timeout returns at once: queued events, or ERROR_TIMEOUT when there are none.
		e, ret := call(func() (nvml.EventData, nvml.Return) { return w.set.Wait(0) })
		switch {
		case ret == nvml.ERROR_TIMEOUT:
			return out, nil
		case ret != nvml.SUCCESS:
			return out, &nvmlError{op: "wait for Xid events", ret: ret}
		case e.EventType&nvml.EventTypeXidCriticalError != 0:
			gpu, ret := call(e.Device.GetIndex)
			if ret != nvml.SUCCESS {
				gpu = -1
			}
			out = append(out, gpuenv.XidEvent{GPU: gpu, Xid: e.EventData})
		}
	}
	return out, nil
}

func (w *xidWatch) Close() error {
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	if w.set == nil || w.l.refs == 0 { // after the last Shutdown the set is gone with the library
		w.set = nil
		return nil
	}
	ret := call0(w.set.Free)
	w.set = nil
	if ret != nvml.SUCCESS {
		return &nvmlError{op: "free event set", ret: ret}
	}
	return nil
}

// nvmlError is a failed NVML call: what was being read, and NVML's return code.
type nvmlError struct {
	op  string
	ret nvml.Return
}

func (e *nvmlError) Error() string { return e.op + ": " + e.ret.Error() }

func (e *nvmlError) Is(target error) bool {
	switch target {
	case gpuenv.ErrGPULost:
		return e.ret == nvml.ERROR_GPU_IS_LOST
	case gpuenv.ErrNotSupported:
		return unavailable(e.ret)
	case gpuenv.ErrNotInitialized:
		return e.ret == nvml.ERROR_UNINITIALIZED
	}
	return false
}

// unavailable reports return codes that mean "this value cannot be had here", not "broken".
func unavailable(ret nvml.Return) bool {
	switch ret {
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_NO_PERMISSION, nvml.ERROR_FUNCTION_NOT_FOUND, nvml.ERROR_NO_DATA:
		return true
	}
	return false
}

// reads collects the first real failure among the queries about one GPU (or the system, gpu -1);
// unavailable values are skipped.
type reads struct {
	gpu int
	err error
}

// ok reports whether ret is SUCCESS, recording a failure that is not mere unavailability.
func (r *reads) ok(what string, ret nvml.Return) bool {
	if ret == nvml.SUCCESS {
		return true
	}
	if r.err == nil && !unavailable(ret) {
		r.fail(what, ret)
	}
	return false
}

// must is ok for values a readable device always has: their absence is a failure too.
func (r *reads) must(what string, ret nvml.Return) bool {
	if ret == nvml.SUCCESS {
		return true
	}
	if r.err == nil {
		r.fail(what, ret)
	}
	return false
}

func (r *reads) fail(what string, ret nvml.Return) {
	op := "system"
	if r.gpu >= 0 {
		op = fmt.Sprintf("GPU %d", r.gpu)
	}
	r.err = &nvmlError{op: op + ": read " + what, ret: ret}
}

// call runs one NVML query; a panic (a mock without this function) reads as not supported.
func call[T any](f func() (T, nvml.Return)) (v T, ret nvml.Return) {
	defer func() {
		if recover() != nil {
			var zero T
			v, ret = zero, nvml.ERROR_NOT_SUPPORTED
		}
	}()
	return f()
}

func call0(f func() nvml.Return) (ret nvml.Return) {
	defer func() {
		if recover() != nil {
			ret = nvml.ERROR_NOT_SUPPORTED
		}
	}()
	return f()
}

func cString(b []int8) string {
	buf := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		buf = append(buf, byte(c))
	}
	return string(buf)
}
