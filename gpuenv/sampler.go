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

// TelemetryHeader is the first line the Sampler writes to its CSV (telemetry.csv). Unknown
// values are empty cells.
const TelemetryHeader = "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w\n"

// Peaks sums up the telemetry of one step over all GPUs.
type Peaks struct {
	Samples     int     `json:"samples"` // sampling rounds, each over every GPU
	PeakMemMiB  uint64  `json:"peak_mem_mib"`
	PeakUtilPct uint32  `json:"peak_util_pct"`
	MaxTempC    uint32  `json:"max_temp_c"`
	MaxPowerW   float64 `json:"max_power_w"`
	// Xids are the Xid numbers of the critical errors seen during the step, in order.
	Xids      []uint64   `json:"xids,omitempty"`
	XidEvents []XidEvent `json:"xid_events,omitempty"` // the same, with the GPU of each
	// Err is the first failure while sampling, for example a GPU lost in the middle of the step.
	Err string `json:"error,omitempty"`
}

// Sampler records GPU telemetry and Xid errors while a step runs, in one goroutine that wakes
// once per interval. Its methods are for one goroutine (the suite's); it is not safe for
// concurrent use.
type Sampler struct {
	lib      Library
	gpus     int
	interval time.Duration
	csv      io.Writer
	xid      XidWatch

	// Owned by the sampling goroutine while a step runs, by the caller otherwise.
	step   []byte // the step's CSV field
	peaks  Peaks
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
		if s.csv != nil {
			s.buf = s.appendRow(s.buf, now, i, v)
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
