package gpuenv

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DefaultInterval is the Sampler's interval when none is given: 1 Hz.
const DefaultInterval = time.Second

// TelemetryHeader is the first line the Sampler writes to its CSV (telemetry.csv). gpu is the
// NVML index; clock_events is NVML's bit mask in hexadecimal ("0x1": GPU idle); pcie_gen and
// pcie_width are the link as trained at the time. Unknown values are empty cells. The columns
// up to power_w are those of the first version, in the same order: new ones go at the end.
const TelemetryHeader = "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w,sm_clock_mhz,clock_events,pcie_gen,pcie_width\n"

// Peaks sums up the telemetry of one step over all GPUs, and per GPU at load (AtLoad).
type Peaks struct {
	Samples     int     `json:"samples"` // sampling rounds, each over every GPU
	PeakMemMiB  uint64  `json:"peak_mem_mib"`
	PeakUtilPct uint32  `json:"peak_util_pct"`
	MaxTempC    uint32  `json:"max_temp_c"`
	MaxPowerW   float64 `json:"max_power_w"`
	// Xids are the Xid numbers of the critical errors seen during the step, in order.
	Xids      []uint64   `json:"xids,omitempty"`
	XidEvents []XidEvent `json:"xid_events,omitempty"` // the same, with the GPU of each
	// AtLoad sums up the samples taken at load, one entry per GPU that was at load in any, in
	// the order of the sampler's GPUs.
	AtLoad []LoadPeaks `json:"at_load,omitempty"`
	// Err is the first failure while sampling, for example a GPU lost in the middle of the step.
	Err string `json:"error,omitempty"`
}

// LoadPeaks sums up one GPU's samples taken at load during a step. A sample is at load when
// the GPU's utilisation is above 0 and the GPU-idle clock-event reason is clear (or unknown).
// Both are needed: an idle GPU lowers its SM clock and may retrain its PCIe link slower to save
// power, so only samples at load say what they can do; and utilisation is the share of the last
// sample period in which a kernel ran, while the clocks and the link are read now, between two
// kernels perhaps. A value no sample at load could give is 0.
type LoadPeaks struct {
	GPU           int    `json:"gpu"` // NVML index
	Samples       int    `json:"samples"`
	MinSMClockMHz uint32 `json:"min_sm_clock_mhz"`
	// ClockEvents are the clock-event reasons seen, by name (ClockEventNames), GPU idle left out.
	ClockEvents  []string `json:"clock_events,omitempty"`
	MinPCIeGen   int      `json:"min_pcie_gen"`
	MinPCIeWidth int      `json:"min_pcie_width"`
}

// Load returns GPU gpu's samples at load (by NVML index); zero but for GPU when it had none.
func (p Peaks) Load(gpu int) LoadPeaks {
	for _, l := range p.AtLoad {
		if l.GPU == gpu {
			return l
		}
	}
	return LoadPeaks{GPU: gpu}
}

// atLoad reports whether v was read at load (LoadPeaks says why both conditions).
func atLoad(v Sample) bool {
	return v.UtilPct > 0 && (v.ClockEventReasons < 0 || uint64(v.ClockEventReasons)&ClockEventGPUIdle == 0)
}

// loadSum gathers one GPU's samples at load while a step runs; 0 is "none yet".
type loadSum struct {
	samples                int
	minClock, minGen, minW int64
	events                 uint64
}

func (a *loadSum) add(v Sample) {
	a.samples++
	a.minClock = minKnown(a.minClock, v.SMClockMHz)
	a.minGen = minKnown(a.minGen, v.PCIeGen)
	a.minW = minKnown(a.minW, v.PCIeWidth)
	if v.ClockEventReasons > 0 {
		a.events |= uint64(v.ClockEventReasons)
	}
}

// minKnown is the smaller of cur and v, where 0 (cur: none yet) and v ≤ 0 (unknown) do not count.
func minKnown(cur, v int64) int64 {
	if v <= 0 || (cur > 0 && cur <= v) {
		return cur
	}
	return v
}

// Sampler records GPU telemetry and Xid errors while a step runs, in one goroutine that wakes
// once per interval. Its methods are for one goroutine (the suite's); it is not safe for
// concurrent use.
type Sampler struct {
	lib      Library
	gpus     int
	index    []int // the NVML index of each of lib's GPUs (gpuenv.Only's GPU 0 may be GPU 3)
	interval time.Duration
	csv      io.Writer
	xid      XidWatch

	// Owned by the sampling goroutine while a step runs, by the caller otherwise.
	step   []byte // the step's CSV field
	peaks  Peaks
	load   []loadSum // per GPU
	buf    []byte
	header bool
	werr   error

	stop, done chan struct{}
}

// NewSampler returns a sampler over the GPUs of lib, writing every sample to csv (which may be
// nil). It holds its own reference to lib (Init here, Shutdown in Close), so it works whether or
// not the caller keeps lib initialised. A nil lib, one whose Init fails (no driver) or one without
// GPUs gives a sampler that records nothing. A zero interval means DefaultInterval. Xids are
// watched from here on: one that happens between steps is reported by the next step.
func NewSampler(lib Library, interval time.Duration, csv io.Writer) *Sampler {
	s := &Sampler{interval: interval, csv: csv}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if lib == nil || lib.Init() != nil {
		return s
	}
	n, err := lib.DeviceCount()
	if err != nil || n == 0 {
		_ = lib.Shutdown()
		return s
	}
	s.lib, s.gpus = lib, n
	s.index, s.load = make([]int, n), make([]loadSum, n)
	for i := range n {
		g, _ := lib.GPU(i) // on error it still carries its index
		s.index[i] = g.Index
	}
	if w, err := lib.WatchXid(); err == nil {
		s.xid = w
	}
	return s
}

// Start begins sampling for one step: a sample at once, then one per interval. Starting while a
// step runs ends that step first.
func (s *Sampler) Start(step string) {
	if s.done != nil {
		s.Stop()
	}
	if s.lib == nil {
		return
	}
	s.step = appendCSVField(s.step[:0], step)
	s.peaks = Peaks{}
	clear(s.load)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run(s.stop, s.done)
}

// Stop ends the step, collecting the Xids reported until now, and returns its peaks. It returns
// as soon as the sampling goroutine sees it: a sample under way is the most it waits for.
func (s *Sampler) Stop() Peaks {
	if s.done == nil {
		return Peaks{}
	}
	close(s.stop)
	<-s.done
	s.stop, s.done = nil, nil
	for i, a := range s.load {
		if a.samples > 0 {
			s.peaks.AtLoad = append(s.peaks.AtLoad, LoadPeaks{GPU: s.index[i], Samples: a.samples,
				MinSMClockMHz: uint32(a.minClock), ClockEvents: ClockEventNames(a.events &^ ClockEventGPUIdle),
				MinPCIeGen: int(a.minGen), MinPCIeWidth: int(a.minW)})
		}
	}
	return s.peaks
}

// Close stops sampling, releases the Xid watch and the sampler's reference to the library. It
// reports the first CSV write error. The sampler records nothing after Close.
func (s *Sampler) Close() error {
	s.Stop()
	var errs []error
	if s.werr != nil {
		errs = append(errs, fmt.Errorf("write telemetry: %w", s.werr))
		s.werr = nil
	}
	if s.xid != nil {
		errs = append(errs, s.xid.Close())
		s.xid = nil
	}
	if s.lib != nil {
		errs = append(errs, s.lib.Shutdown())
		s.lib = nil
	}
	return errors.Join(errs...)
}

func (s *Sampler) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.sample(time.Now())
	for {
		select {
		case <-stop:
			s.pollXid()
			return
		case now := <-t.C:
			s.sample(now)
		}
	}
}

// sample reads every GPU once, folds the readings into the peaks and appends them to the CSV.
func (s *Sampler) sample(now time.Time) {
	s.pollXid()
	s.buf = s.buf[:0]
	if s.csv != nil && !s.header {
		s.buf = append(s.buf, TelemetryHeader...)
		s.header = true
	}
	now = now.UTC()
	for i := range s.gpus {
		v, err := s.lib.Sample(i)
		if err != nil && s.peaks.Err == "" {
			s.peaks.Err = err.Error()
		}
		p := &s.peaks
		if v.MemUsedMiB >= 0 {
			p.PeakMemMiB = max(p.PeakMemMiB, uint64(v.MemUsedMiB))
		}
		if v.UtilPct >= 0 {
			p.PeakUtilPct = max(p.PeakUtilPct, uint32(v.UtilPct))
		}
		if v.TempC >= 0 {
			p.MaxTempC = max(p.MaxTempC, uint32(v.TempC))
		}
		p.MaxPowerW = max(p.MaxPowerW, v.PowerW)
		if atLoad(v) {
			s.load[i].add(v)
		}
		if s.csv != nil {
			s.buf = s.appendRow(s.buf, now, s.index[i], v)
		}
	}
	s.peaks.Samples++
	if s.csv != nil && s.werr == nil {
		_, s.werr = s.csv.Write(s.buf)
	}
}

func (s *Sampler) pollXid() {
	if s.xid == nil {
		return
	}
	events, err := s.xid.Poll()
	for _, e := range events {
		s.peaks.Xids = append(s.peaks.Xids, e.Xid)
		s.peaks.XidEvents = append(s.peaks.XidEvents, e)
	}
	if err != nil { // a watch that fails once is dropped rather than retried every second
		if s.peaks.Err == "" {
			s.peaks.Err = err.Error()
		}
		_ = s.xid.Close()
		s.xid = nil
	}
}

func (s *Sampler) appendRow(b []byte, now time.Time, gpu int, v Sample) []byte {
	b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, ',')
	b = append(b, s.step...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(gpu), 10)
	for _, n := range [...]int64{v.MemUsedMiB, v.UtilPct, v.TempC} {
		b = append(b, ',')
		if n >= 0 {
			b = strconv.AppendInt(b, n, 10)
		}
	}
	b = append(b, ',')
	if v.PowerW >= 0 {
		b = strconv.AppendFloat(b, v.PowerW, 'f', -1, 64)
	}
	b = append(b, ',')
	if v.SMClockMHz >= 0 {
		b = strconv.AppendInt(b, v.SMClockMHz, 10)
	}
	b = append(b, ',')
	if v.ClockEventReasons >= 0 {
		b = strconv.AppendInt(append(b, "0x"...), v.ClockEventReasons, 16)
	}
	for _, n := range [...]int64{v.PCIeGen, v.PCIeWidth} {
		b = append(b, ',')
		if n >= 0 {
			b = strconv.AppendInt(b, n, 10)
		}
	}
	return append(b, '\n')
}

// appendCSVField appends s as one CSV field, quoted when it holds a comma, quote or newline.
func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}
