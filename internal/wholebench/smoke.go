package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/runbook"
)

// The binaries make smoke runs (plain tags), which the figure measures already built.
var smokeBinaries = []string{".bin/plain/smoke.test", ".bin/plain/gotestsum", ".bin/plain/test2json", ".bin/plain/checklist"}

// cleanEnv is the environment without the settings that would change what make smoke runs
// (a make's own flags, GPU=1, a checkout, a plan, a PYTHONPATH) and without the suite's own
// settings; add is appended.
func cleanEnv(add ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GPU", "FAKEGPU",
			"TESTFLAGS", "DIFFTRAIN_DIR", "PYTHONPATH", "GOFLAGS"}, name),
			strings.HasPrefix(name, "SMOKE_"), strings.HasPrefix(name, "GPUSMOKE_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, add...)
}

// pickPython is the interpreter of the smoke figure: /usr/bin/python3 when it imports torch
// (Debian's python3-torch: the probe then imports a real torch, as on an instance), else the
// `python` make smoke defaults to.
func pickPython(flagValue string) (python string, torch bool) {
	python = flagValue
	if python == "" {
		python = "python"
		if exec.Command("/usr/bin/python3", "-c", "import torch").Run() == nil {
			python = "/usr/bin/python3"
		}
	}
	return python, exec.Command(python, "-c", "import torch").Run() == nil
}

func smokeFigure(c config, w io.Writer) (result, error) {
	python, torch := pickPython(c.python)
	fmt.Fprintf(w, "\n## make smoke on the fixture (SMOKE_PYTHON=%s, torch importable: %v)\n", python, torch)
	tmp, err := os.MkdirTemp(c.tmp, "wholebench-smoke-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)
	env := cleanEnv("SMOKE_PYTHON=" + python)

	build := func() (map[string]time.Time, error) {
		cmd := exec.Command("make", append([]string{"-s", "--no-print-directory"}, smokeBinaries...)...)
		cmd.Dir, cmd.Env = c.root, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("make %s: %v\n%s", strings.Join(smokeBinaries, " "), err, out)
		}
		stamps := map[string]time.Time{}
		for _, b := range smokeBinaries {
			st, err := os.Stat(filepath.Join(c.root, b))
			if err != nil {
				return nil, err
			}
			stamps[b] = st.ModTime()
		}
		return stamps, nil
	}
	stamps, err := build()
	if err != nil {
		return result{}, err
	}

	runs := 0
	makeSmoke := func() (string, error) {
		runs++
		out := filepath.Join(tmp, fmt.Sprintf("run-%d", runs))
		cmd := exec.Command("make", "--no-print-directory", "smoke")
		cmd.Dir, cmd.Env = c.root, append(slices.Clone(env), "SMOKE_OUT="+out)
		log, err := os.Create(out + ".out")
		if err != nil {
			return "", err
		}
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return out, fmt.Errorf("make smoke (SMOKE_OUT=%s): %v; its output is in %s.out", out, err, out)
		}
		return out, nil
	}

	// The warm-up: the second invocation is measured, and the first says which commands ran.
	warm, err := makeSmoke()
	if err != nil {
		return result{}, err
	}
	run, err := evidence.ReadRun(warm)
	if err != nil {
		return result{}, err
	}
	ran := map[string]bool{}
	for _, s := range run.Sections {
		if s.ExitCode != nil {
			ran[s.Section] = true
		}
	}
	planPath := filepath.Join(c.root, "testdata", "fixture-plan.yaml")
	plan, err := runbook.Load(planPath)
	if err != nil {
		return result{}, err
	}
	var script strings.Builder
	fmt.Fprintf(&script, `#!/usr/bin/env bash
# The commands make smoke ran on the fixture (%s, the sections with an exit code in its
# run.json), as a plain script in the workspace $1, with the environment the suite gives them,
# after one torch probe. Each command's start and end go to $2, for the breakdown.
set -euo pipefail
cd "$1"
export PYTHONPATH="$1/standins:$1/difftrain/src" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
`, filepath.Base(planPath))
	timed := func(id, command string) {
		fmt.Fprintf(&script, "t=$EPOCHREALTIME\n%s\necho \"%s $t $EPOCHREALTIME\" >> \"$2\"\n", command, id)
	}
	probe := evidence.Quote([]string{python, "-c", "import torch"})
	if !torch {
		probe += " || true # " + python + " has no torch: the suite's probe finds none either"
	}
	timed("probe", probe)
	var steps []string
	for _, s := range plan.Steps {
		if ran[s.Section] && len(s.Command) > 0 {
			timed(s.Section, evidence.Quote(s.Argv(python)))
			steps = append(steps, s.ID())
		}
	}
	if len(steps) == 0 {
		return result{}, fmt.Errorf("%s: no section ran a command", filepath.Join(warm, evidence.RunFile))
	}
	scriptPath := filepath.Join(tmp, "plain.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o755); err != nil {
		return result{}, err
	}
	fmt.Fprintf(w, "  baseline: bash %s <workspace> <times>, the steps %s:\n", scriptPath, strings.Join(steps, ", "))
	for _, line := range strings.Split(strings.TrimSpace(script.String()), "\n") {
		fmt.Fprintf(w, "    | %s\n", line)
	}
	if err := os.RemoveAll(warm); err != nil {
		return result{}, err
	}

	var phases []phaseTimes
	plainTimes := map[string][]time.Duration{} // a command's time in the plain script, by section ("probe")
	var lastPlain map[string]time.Duration
	timesPath := filepath.Join(tmp, "plain-times.txt")
	ws := ""
	var start, end time.Time
	var out string
	prepare := func(measured bool) error {
		if measured {
			now, err := build()
			if err != nil {
				return err
			}
			if fmt.Sprint(now) != fmt.Sprint(stamps) {
				fmt.Fprintln(w, "  note: the binaries were rebuilt (a source changed) before this run; the rebuild is not timed")
				stamps = now
			}
			return nil
		}
		if ws != "" {
			if err := os.RemoveAll(ws); err != nil {
				return err
			}
		}
		ws = filepath.Join(tmp, fmt.Sprintf("ws-%d", runs))
		if err := os.Mkdir(ws, 0o755); err != nil {
			return err
		}
		if err := gpusmoke.WriteFixture(filepath.Join(ws, "difftrain")); err != nil {
			return err
		}
		return gpusmoke.WriteStandins(filepath.Join(ws, "standins"))
	}
	baseline := func() error {
		cmd := exec.Command("bash", scriptPath, ws, timesPath)
		cmd.Env = cleanEnv()
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("bash %s %s: %v\n%s", scriptPath, ws, err, b)
		}
		return nil
	}
	measured := func() error {
		start = time.Now()
		var err error
		out, err = makeSmoke()
		end = time.Now()
		return err
	}
	// verify checks a run, untimed: the plain script's times; for make smoke no rebuild while
	// it ran, a PASS, and where its time went.
	verify := func(measured bool) error {
		if !measured {
			b, err := os.ReadFile(timesPath)
			if err != nil {
				return err
			}
			lastPlain = map[string]time.Duration{}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var id string
				var t0, t1 float64
				if _, err := fmt.Sscanf(line, "%s %f %f", &id, &t0, &t1); err != nil {
					return fmt.Errorf("read %s: %q: %w", timesPath, line, err)
				}
				lastPlain[id] = time.Duration((t1 - t0) * float64(time.Second))
			}
			return os.Remove(timesPath)
		}
		defer os.RemoveAll(out)
		now, err := build()
		if err != nil {
			return err
		}
		if fmt.Sprint(now) != fmt.Sprint(stamps) {
			stamps = now
			return fmt.Errorf("make smoke rebuilt the binaries (a source changed while it ran): %w", errAgain)
		}
		s, err := evidence.ReadSummary(out)
		if err != nil {
			return err
		}
		if s.Verdict != evidence.Pass {
			return fmt.Errorf("%s: verdict %s, want PASS", filepath.Join(out, evidence.SummaryFile), s.Verdict)
		}
		p, err := readPhases(filepath.Join(out, evidence.JSONFile), start, end)
		if err != nil {
			return err
		}
		phases = append(phases, p)
		for id, d := range lastPlain {
			plainTimes[id] = append(plainTimes[id], d)
		}
		return nil
	}
	base, meas, err := pairs{N: c.n, W: w, Unit: secs, Prepare: prepare, Verify: verify, Baseline: baseline, Measured: measured}.run()
	if err != nil {
		return result{}, err
	}
	mb, mm := median(base), median(meas)
	ratio := mm.Seconds() / mb.Seconds()
	fixed := mm - mb
	fmt.Fprintf(w, "  baseline %s; make smoke %s\n", spread(base, secs), spread(meas, secs))
	fmt.Fprintf(w, "  ratio %.3f (goal ≤ 1.05: %s); fixed cost %s (goal < 0.5 s: %s)\n", ratio, met(ratio <= 1.05), secs(fixed), met(fixed < 500*time.Millisecond))
	// Where make smoke's time goes, from go test's own JSON stream.
	var pre, main, sections, post []time.Duration
	for _, p := range phases {
		pre, main, sections, post = append(pre, p.pre), append(main, p.testMain), append(sections, p.sections), append(post, p.post)
	}
	fmt.Fprintf(w, "  make smoke's medians: %s before the suite's first output (make, run-smoke, the settings check, gotestsum), "+
		"%s in TestMain (fixture laid out, facts and the torch probe), %s in the sections, %s after them (JUnit, rendering, the seal)\n",
		secs(median(pre)), secs(median(main)), secs(median(sections)), secs(median(post)))
	suiteTimes := map[string][]time.Duration{}
	for _, p := range phases {
		for id, d := range p.tests {
			suiteTimes[id] = append(suiteTimes[id], d)
		}
	}
	fmt.Fprintf(w, "  by section (medians; the suite's test time from go test's JSON, 10 ms resolution, against the plain script's command):\n")
	fmt.Fprintf(w, "    TestMain %s against the probe %s\n", secs(median(main)), secs(median(plainTimes["probe"])))
	for _, s := range plan.Steps {
		if d := suiteTimes[s.Section]; len(d) > 0 {
			line := fmt.Sprintf("    %s: test %s", s.ID(), secs(median(d)))
			if pd := plainTimes[s.Section]; len(pd) > 0 {
				line += fmt.Sprintf(", command in the plain script %s, difference %s", secs(median(pd)), secs(median(d)-median(pd)))
			}
			fmt.Fprintln(w, line)
		}
	}
	label := fmt.Sprintf("`make smoke` on the fixture, built (SMOKE_PYTHON=%s)", python)
	return result{rows: []string{
		fmt.Sprintf("| %s | plain script + torch probe: %s | %s | %.3f | ≤ 1.05 | %s |", label, secs(mb), secs(mm), ratio, met(ratio <= 1.05)),
		fmt.Sprintf("| its fixed cost (make smoke − plain script) | | %s | | < 0.5 s | %s |", secs(fixed), met(fixed < 500*time.Millisecond)),
	}}, nil
}

// phaseTimes splits one make smoke by go test's JSON stream: before its first event, TestMain
// (to the first section's run), the sections, and after its last event.
type phaseTimes struct {
	pre, testMain, sections, post time.Duration
	tests                         map[string]time.Duration // each section's test, by section number ("04")
}

func readPhases(path string, start, end time.Time) (phaseTimes, error) {
	f, err := os.Open(path)
	if err != nil {
		return phaseTimes{}, err
	}
	defer f.Close()
	var first, firstRun, last time.Time
	tests := map[string]time.Duration{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var ev struct {
			Time    time.Time
			Action  string
			Test    string
			Elapsed float64
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return phaseTimes{}, fmt.Errorf("read %s: line %d: %w", path, n, err)
		}
		if first.IsZero() {
			first = ev.Time
		}
		if ev.Action == "run" && firstRun.IsZero() {
			firstRun = ev.Time
		}
		last = ev.Time
		if (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip") && len(ev.Test) >= 6 && strings.HasPrefix(ev.Test, "Test") {
			tests[ev.Test[4:6]] = time.Duration(ev.Elapsed * float64(time.Second))
		}
	}
	if err := sc.Err(); err != nil {
		return phaseTimes{}, fmt.Errorf("read %s: %w", path, err)
	}
	if firstRun.IsZero() {
		return phaseTimes{}, fmt.Errorf("read %s: no test ran", path)
	}
	return phaseTimes{pre: first.Sub(start), testMain: firstRun.Sub(first), sections: last.Sub(firstRun), post: end.Sub(last), tests: tests}, nil
}
