// Command wholebench measures the figures a user of the smoke suite feels, each beside a
// baseline measured in the same run, the two run alternately N times:
//
//	smoke   `make smoke` on the fixture (binaries built; a warm-up run first), against the plan's
//	        commands as a plain bash script plus one `python -c "import torch"` probe
//	stream  a step that prints 1 GiB, through runner.Run as the suite calls it (redacting log
//	        filter and live stream), against `cat` of the same stream to a file; throughput and
//	        the runner's peak RSS
//	fleet   `checklist fleet` over 1,000 evidence directories, against reading their run.json
//	junit   view.Load and checklist.Render of a junit.xml of 10,000 testcases, against reading it
//
// It prints each run's times, the medians, the ratio and the goal, then one markdown table for
// docs/benchmarks.md. Run it from the repository root (make bench-whole does):
//
//	go run ./internal/wholebench [-n 7] [-only smoke,stream,fleet,junit] [-python python]
//
// It never fails on a figure that misses its goal (timings on a shared machine are noisy); it
// exits 1 when a measurement could not be made, with one line that names what failed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childStream {
		os.Exit(streamChild(os.Args[2:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the command line sets.
type config struct {
	n          int
	root       string // the repository
	tmp        string // where the temporary trees go
	python     string // SMOKE_PYTHON of the smoke figure ("" picks one)
	streamSize int64
	fleetRuns  int
	junitCases int
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wholebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	only := fs.String("only", "smoke,stream,fleet,junit", "the figures to measure, comma-separated")
	fs.IntVar(&c.n, "n", 7, "runs of the baseline and of the measured thing each, alternately (at least 5 for a figure to quote)")
	fs.StringVar(&c.python, "python", "", `SMOKE_PYTHON for the smoke figure and its baseline (default /usr/bin/python3 when it imports torch, else "python")`)
	fs.Int64Var(&c.streamSize, "stream-bytes", 1<<30, "bytes the stream figure's step prints")
	fs.IntVar(&c.fleetRuns, "fleet-runs", 1000, "evidence directories of the fleet figure")
	fs.IntVar(&c.junitCases, "junit-cases", 10000, "testcases in the junit figure's junit.xml")
	fs.StringVar(&c.tmp, "tmp", os.TempDir(), "directory for the temporary trees (the stream figure needs 3 GiB there)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.n < 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "wholebench: -n must be at least 1, and no arguments are taken")
		return 2
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintf(stderr, "wholebench: %v\n", err)
		return 2
	}
	c.root = root
	figures := map[string]func(config, io.Writer) (result, error){
		"smoke": smokeFigure, "stream": streamFigure, "fleet": fleetFigure, "junit": junitFigure,
	}
	var order []string
	for _, f := range strings.Split(*only, ",") {
		f = strings.TrimSpace(f)
		if figures[f] == nil {
			fmt.Fprintf(stderr, "wholebench: -only: no figure %q (smoke, stream, fleet, junit)\n", f)
			return 2
		}
		order = append(order, f)
	}
	if c.n < 5 {
		fmt.Fprintf(stdout, "note: -n %d: fewer than 5 runs each; do not quote these figures\n", c.n)
	}
	var results []result
	for _, f := range order {
		res, err := figures[f](c, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "wholebench: %s: %v\n", f, err)
			return 1
		}
		results = append(results, res)
	}
	fmt.Fprintf(stdout, "\n## Summary (%s, %s/%s, %d CPUs, N=%d)\n\n", time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), c.n)
	fmt.Fprintln(stdout, "| figure | baseline (median) | measured (median) | ratio | goal | met |")
	fmt.Fprintln(stdout, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		for _, row := range r.rows {
			fmt.Fprintln(stdout, row)
		}
	}
	return 0
}

// result is a figure's rows of the summary table.
type result struct{ rows []string }

// repoRoot is the directory above the working directory that holds this module's go.mod.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/difftrain/gpusmoke\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("run from the gpusmoke repository: no go.mod of github.com/difftrain/gpusmoke above " + wd)
		}
	}
}

// pairs runs Baseline and Measured N times each, alternately (the baseline first).
type pairs struct {
	N    int
	W    io.Writer
	Unit func(time.Duration) string
	// Prepare, when set, runs before each timed run; Verify, when set, after it; neither is
	// timed. Verify returning errAgain drops the pair, which runs again (3 times at most).
	Prepare, Verify    func(measured bool) error
	Baseline, Measured func() error
}

// errAgain drops a pair that measured something else (a rebuild, say).
var errAgain = errors.New("run again")

// run returns the wall times of the baseline's runs and of the measured thing's.
func (p pairs) run() (base, meas []time.Duration, err error) {
	for i, tries := 0, 0; i < p.N; {
		var pair [2]time.Duration
		var again error
		for k, m := range []bool{false, true} {
			if p.Prepare != nil {
				if err := p.Prepare(m); err != nil {
					return nil, nil, err
				}
			}
			fn, name := p.Baseline, "baseline"
			if m {
				fn, name = p.Measured, "measured"
			}
			start := time.Now()
			err := fn()
			pair[k] = time.Since(start)
			if err == nil && p.Verify != nil {
				err = p.Verify(m)
			}
			if errors.Is(err, errAgain) && tries < 2 {
				again = err
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("run %d, %s: %w", i+1, name, err)
			}
		}
		if again != nil {
			fmt.Fprintf(p.W, "  run %d: %v; this pair runs again\n", i+1, again)
			tries++
			continue
		}
		base, meas = append(base, pair[0]), append(meas, pair[1])
		fmt.Fprintf(p.W, "  run %d: baseline %s, measured %s\n", i+1, p.Unit(pair[0]), p.Unit(pair[1]))
		i, tries = i+1, 0
	}
	return base, meas, nil
}

// median of ds (the lower middle for an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func spread(ds []time.Duration, unit func(time.Duration) string) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s (min %s, max %s)", unit(median(ds)), unit(s[0]), unit(s[len(s)-1]))
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
