// Command wholebench measures the whole-run figures of docs/benchmarks.md, the ones a user of
// the smoke suite feels: make smoke on the fixture, a step that prints 1 GiB, the fleet report
// of 1,000 runs, the checklist of a 10,000-testcase JUnit. Each figure (the table in figures())
// is run alternately N times with a baseline measured in the same run, and their medians are
// compared. It prints each run's times, the medians, the ratio and the goal, then one markdown
// table for docs/benchmarks.md. Run it from the repository's root (make bench-whole does):
//
//	go run ./internal/wholebench [-n 7] [-only smoke,stream,fleet,junit] [-python python]
//
// It never fails on a figure that misses its goal (timings on a shared machine are noisy); it
// exits 1 when a measurement could not be made, with one line that names what failed.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childStream {
		os.Exit(streamChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// bench is one run of the program: what the command line sets, and where it prints.
type bench struct {
	w          io.Writer
	n          int
	root       string // the repository: the working directory
	python     string // SMOKE_PYTHON of the smoke figure
	torch      bool   // whether python imports torch
	streamSize int64
	fleetRuns  int
	junitCases int
	gpus       string // GPUS of the node figure
}

// A figure is one row of the summary table: what its setup makes, timed N times beside its
// baseline. Adding a figure is one entry in figures().
type figure struct {
	only     string // the group -only names
	name     string // the row's first column
	baseline string // what the baseline is, before its median in the row
	// goal is of the ratio ("≤ 1.05", "≥ 0.8") or, in seconds, of the measured median ("≤ 5 s");
	// in parentheses for a diagnostic.
	goal string
	unit func(time.Duration) string // secs when nil
	// bytes, when set, is what each side moves: the row gives MiB/s, and the ratio is the
	// measured side's throughput as a fraction of the baseline's (else its time over the baseline's).
	bytes int64
	// setup makes the two sides in dir, a temporary directory of the figure's own; it is not timed.
	setup func(b *bench, dir string) (*sides, error)
}

// figures is the table of figures, in the order they run and are printed.
func figures(c *bench) []figure {
	step, cat := "a step that prints "+mib(c.streamSize), "`cat` of it to a file"
	return []figure{
		{only: "smoke", name: "`make smoke` on the fixture, built (SMOKE_PYTHON=" + c.python + ")", baseline: "plain script + torch probe", goal: "≤ 1.05", setup: smokeSides},
		{only: "stream", name: step + " (training-log lines)", baseline: cat, goal: "≥ 0.8", bytes: c.streamSize,
			setup: streamSides("training-log", writeLogLines, secretEnv, true)},
		{only: "stream", name: "diagnostic: the same, runner.Run with no redacting filter", baseline: cat, goal: "(≥ 0.8)", bytes: c.streamSize,
			setup: streamSides("training-log-plain", writeLogLines, secretEnv, false)},
		{only: "stream", name: step + " (base64 of random bytes)", baseline: cat, goal: "≥ 0.8", bytes: c.streamSize,
			setup: streamSides("base64", writeBase64, secretEnv, true)},
		{only: "stream", name: step + " (training-log lines, 50 secrets in the environment)", baseline: cat, goal: "≥ 0.7", bytes: c.streamSize,
			setup: streamSides("training-log-50", writeLogLines, manySecrets(), true)},
		{only: "stream", name: step + " (base64 of random bytes, 50 secrets in the environment)", baseline: cat, goal: "≥ 0.7", bytes: c.streamSize,
			setup: streamSides("base64-50", writeBase64, manySecrets(), true)},
		{only: "fleet", name: fmt.Sprintf("the fleet report of %d runs (`checklist fleet`)", c.fleetRuns), baseline: "reading their run.json (cat)",
			goal: "≤ 5 s", unit: millis, setup: fleetSides},
		{only: "junit", name: fmt.Sprintf("the checklist for a JUnit of %d testcases (`view.Load` + `checklist.Render`)", c.junitCases),
			baseline: "reading the file (os.ReadFile)", goal: "≤ 0.5 s", unit: millis, setup: junitSides(false)},
		{only: "junit", name: "the same, as the command `checklist render -exit-verdict DIR`", baseline: "reading the file (cat)",
			goal: "≤ 0.5 s", unit: millis, setup: junitSides(true)},
		{only: "node", name: "a node run of the fake DGX H200 (`GPUS=" + c.gpus + " make smoke`, GPU=1 FAKEGPU=1)",
			baseline: "the same commands, every GPU's at once, by a plain script", goal: "≤ 1.10", setup: nodeSides},
	}
}

// met says whether the medians met the figure's goal.
func (f figure) met(ratio float64, meas time.Duration) bool {
	var op string
	var limit float64
	fmt.Sscanf(strings.Trim(f.goal, "()"), "%s %g", &op, &limit)
	if strings.HasSuffix(f.goal, " s") {
		ratio = meas.Seconds()
	}
	return op == "≤" && ratio <= limit || op == "≥" && ratio >= limit
}

// sides is what a figure's setup makes: the two things timed, and what runs untimed around them.
type sides struct {
	baseline, measured func() error
	// before and after, when set, run before and after each timed run: they prepare it and
	// check what it did.
	before, after func(measured bool) error
	// more, when set, prints what else the runs showed and returns the figure's further rows.
	more func(base, meas time.Duration) ([]string, error)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wholebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &bench{w: stdout}
	only := fs.String("only", "smoke,stream,fleet,junit,node", "the groups of figures to measure, comma-separated")
	fs.StringVar(&c.gpus, "gpus", "all", "GPUS of the node figure: all (the fake DGX H200's 8), or NVML indexes")
	fs.IntVar(&c.n, "n", 7, "runs of the baseline and of the measured thing each, alternately (at least 5 for a figure to quote)")
	fs.StringVar(&c.python, "python", "", `SMOKE_PYTHON for the smoke figure and its baseline (default /usr/bin/python3 when it imports torch, else "python")`)
	fs.Int64Var(&c.streamSize, "stream-bytes", 1<<30, "bytes the stream figures' step prints (3 times that must be free in $TMPDIR)")
	fs.IntVar(&c.fleetRuns, "fleet-runs", 1000, "evidence directories of the fleet figure")
	fs.IntVar(&c.junitCases, "junit-cases", 10000, "testcases in the junit figures' junit.xml")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	groups := strings.Split(*only, ",")
	for _, g := range groups {
		if !slices.ContainsFunc(figures(c), func(f figure) bool { return f.only == g }) {
			fmt.Fprintf(stderr, "wholebench: -only: no figure %q (smoke, stream, fleet, junit, node)\n", g)
			return 2
		}
	}
	if c.n < 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "wholebench: -n must be at least 1, and no arguments are taken")
		return 2
	}
	var err error
	if c.root, err = os.Getwd(); err == nil {
		_, err = os.Stat("testdata/fixture-plan.yaml")
	}
	if err != nil {
		fmt.Fprintf(stderr, "wholebench: run it from the repository's root: %v\n", err)
		return 2
	}
	if slices.Contains(groups, "smoke") || slices.Contains(groups, "node") {
		c.python, c.torch = pickPython(c.python)
	}
	if c.n < 5 {
		fmt.Fprintf(stdout, "note: -n %d: fewer than 5 runs each; do not quote these figures\n", c.n)
	}
	var rows []string
	for _, f := range figures(c) {
		if slices.Contains(groups, f.only) {
			r, err := c.measure(f)
			if err != nil {
				fmt.Fprintf(stderr, "wholebench: %s: %v\n", f.name, err)
				return 1
			}
			rows = append(rows, r...)
		}
	}
	fmt.Fprintf(stdout, "\n## Summary (%s, %s/%s, %d CPUs, N=%d)\n\n", time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), c.n)
	fmt.Fprintln(stdout, "| figure | baseline (median) | measured (median) | ratio | goal | met |")
	fmt.Fprintln(stdout, "| --- | --- | --- | --- | --- | --- |")
	fmt.Fprintln(stdout, strings.Join(rows, "\n"))
	return 0
}

// measure runs figure f and returns its rows of the summary table.
func (b *bench) measure(f figure) ([]string, error) {
	fmt.Fprintf(b.w, "\n## %s\n", f.name)
	unit := f.unit
	if unit == nil {
		unit = secs
	}
	dir, err := os.MkdirTemp("", "wholebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s, err := f.setup(b, dir)
	if err != nil {
		return nil, err
	}
	base, meas, err := s.time(b.n, b.w, unit)
	if err != nil {
		return nil, err
	}
	mb, mm := median(base), median(meas)
	ratio, baseCol, measCol := mm.Seconds()/mb.Seconds(), unit(mb), unit(mm)
	fmt.Fprintf(b.w, "  baseline %s; measured %s\n", spread(base, unit), spread(meas, unit))
	ratioCol := fmt.Sprintf("%.3f", ratio)
	if ratio >= 10 {
		ratioCol = fmt.Sprintf("%.0f", ratio)
	}
	if f.bytes > 0 {
		ratio = 1 / ratio
		ratioCol = fmt.Sprintf("%.3f of the baseline's throughput", ratio)
		baseCol, measCol = baseCol+", "+rate(f.bytes, mb), measCol+", "+rate(f.bytes, mm)
	}
	ok := met(f.met(ratio, mm))
	fmt.Fprintf(b.w, "  baseline %s; measured %s; ratio %s (goal %s: %s)\n", baseCol, measCol, ratioCol, f.goal, ok)
	rows := []string{fmt.Sprintf("| %s | %s: %s | %s | %s | %s | %s |", f.name, f.baseline, baseCol, measCol, ratioCol, f.goal, ok)}
	if s.more == nil {
		return rows, nil
	}
	more, err := s.more(mb, mm)
	return append(rows, more...), err
}

// time runs the baseline and the measured side n times each, alternately (the baseline first),
// each between its untimed before and after, and returns their wall times.
func (s *sides) time(n int, w io.Writer, unit func(time.Duration) string) (base, meas []time.Duration, err error) {
	step := func(f func(bool) error, measured bool) error {
		if f == nil {
			return nil
		}
		return f(measured)
	}
	for i := range n {
		var d [2]time.Duration
		for k, name := range []string{"baseline", "measured"} {
			err := step(s.before, k == 1)
			if err == nil {
				start := time.Now()
				err = []func() error{s.baseline, s.measured}[k]()
				d[k] = time.Since(start)
			}
			if err == nil {
				err = step(s.after, k == 1)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("run %d, %s: %w", i+1, name, err)
			}
		}
		base, meas = append(base, d[0]), append(meas, d[1])
		fmt.Fprintf(w, "  run %d: baseline %s, measured %s\n", i+1, unit(d[0]), unit(d[1]))
	}
	return base, meas, nil
}

// command runs argv in env (this process's when nil), its output to /dev/null; the error names
// the command and holds what it printed on stderr, unless it exits with the code want.
func command(env []string, want int, argv ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Stderr = env, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if code != want {
		return fmt.Errorf("%s: exit %d, want %d\n%s", strings.Join(argv, " "), code, want, stderr.Bytes())
	}
	return nil
}

// median of ds (the lower middle for an even count).
func median(ds []time.Duration) time.Duration {
	return slices.Sorted(slices.Values(ds))[(len(ds)-1)/2]
}

func spread(ds []time.Duration, unit func(time.Duration) string) string {
	return fmt.Sprintf("%s (min %s, max %s)", unit(median(ds)), unit(slices.Min(ds)), unit(slices.Max(ds)))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func millis(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(n)/(1<<20)/d.Seconds())
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
