// Package benchratio runs a benchmark beside its baseline in the same command and reports the ratio.
//
// Benchmarks report ratios against a baseline measured in the same command, never absolute
// times: every family has a "baseline" and a "suite" sub-benchmark, and the suite's line also
// carries x-baseline, its ns/op over the baseline's median timed just before its own loop.
package benchratio

import (
	"io"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
)

// medianNs is the median wall time of one call of fn in ns: fn runs in batches of about a
// millisecond, at least 5 batches and about 150 ms in all.
func medianNs(b *testing.B, fn func() error) float64 {
	b.Helper()
	call := func(n int) time.Duration {
		start := time.Now()
		for range n {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	batch := 1
	for call(batch) < time.Millisecond && batch < 1<<20 {
		batch *= 2
	}
	var per []float64
	deadline := time.Now().Add(150 * time.Millisecond)
	for len(per) < 5 || (len(per) < 41 && time.Now().Before(deadline)) {
		per = append(per, float64(call(batch).Nanoseconds())/float64(batch))
	}
	slices.Sort(per)
	return per[len(per)/2]
}

// TotalAlloc is the bytes of heap the process has allocated so far.
func TotalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// loop runs op in b.Loop and returns its ns and heap bytes allocated per call.
func loop(b *testing.B, op func() error) (nsPerOp, bytesPerOp float64) {
	b.Helper()
	a0 := TotalAlloc()
	n := 0
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(n), float64(TotalAlloc()-a0) / float64(n)
}

// Family is one benchmark family: the same work done by a baseline and by the suite.
type Family struct {
	// Setup, when set, runs at the start of each sub-benchmark, before anything is timed.
	Setup    func(b *testing.B)
	Bytes    int64 // processed per op, for MB/s
	Baseline func() error
	Suite    func() error
	// Metrics adds a sub-benchmark's own metrics after its loop; suite tells which one it is.
	Metrics func(b *testing.B, suite bool, nsPerOp, allocPerOp float64)
}

// Run runs the family as the sub-benchmarks "baseline" and "suite".
func (f Family) Run(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		if f.Setup != nil {
			f.Setup(b)
		}
		b.SetBytes(f.Bytes)
		b.ReportAllocs()
		ns, alloc := loop(b, f.Baseline)
		if f.Metrics != nil {
			f.Metrics(b, false, ns, alloc)
		}
	})
	b.Run("suite", func(b *testing.B) {
		if f.Setup != nil {
			f.Setup(b)
		}
		b.SetBytes(f.Bytes)
		b.ReportAllocs()
		base := medianNs(b, f.Baseline)
		ns, alloc := loop(b, f.Suite)
		b.ReportMetric(ns/base, "x-baseline")
		if f.Metrics != nil {
			f.Metrics(b, true, ns, alloc)
		}
	})
}

// ReadFile is the baseline for anything that streams a file: open it and io.Copy it to
// io.Discard.
func ReadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}
