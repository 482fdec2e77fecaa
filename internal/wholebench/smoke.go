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
	"github.com/difftrain/gpusmoke/internal/testenv"
)

// smokeBinaries are the binaries make smoke runs (plain tags), which the figure measures built.
var smokeBinaries = []string{".bin/plain/smoke.test", ".bin/plain/gotestsum", ".bin/plain/test2json", ".bin/plain/checklist"}

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

// makeTargets builds the targets with make.
func makeTargets(root string, targets ...string) error {
	return command(testenv.Clean(), 0, append([]string{"make", "-s", "--no-print-directory", "-C", root}, targets...)...)
}

// smokeRun is the smoke figure: make smoke on the fixture, against the commands it ran as a
// plain bash script, and where make smoke's extra time goes.
type smokeRun struct {
	*bench
	dir        string
	ran        []evidence.Section // the sections the warm-up ran a command for
	script     string             // the plain script, which adds each command's start and end to dir/times
	ws, out    string             // the plain script's workspace, and the last make smoke's evidence
	start, end time.Time          // of the last make smoke
	phases     []phaseTimes       // of each make smoke kept
}

// smokeSides builds the binaries, runs make smoke once untimed (the timed runs are second
// invocations, and this one says which sections run a command), and writes the plain script.
func smokeSides(b *bench, dir string) (*sides, error) {
	r := &smokeRun{bench: b, dir: dir}
	if err := makeTargets(b.root, smokeBinaries...); err != nil {
		return nil, err
	}
	if err := r.makeSmoke(); err != nil {
		return nil, err
	}
	if err := r.writeScript(); err != nil {
		return nil, err
	}
	return &sides{before: r.before, baseline: r.runScript, measured: r.makeSmoke, after: r.after, more: r.report}, nil
}

// makeSmoke runs make smoke as a user types it, with SMOKE_PYTHON and none of the shell's
// settings, into a fresh evidence directory.
func (r *smokeRun) makeSmoke() error {
	r.out = filepath.Join(r.dir, fmt.Sprintf("run-%d", len(r.phases)))
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Dir, cmd.Env = r.root, testenv.Clean("SMOKE_PYTHON="+r.python, "SMOKE_OUT="+r.out)
	log, err := os.Create(r.out + ".out")
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	r.start = time.Now()
	err = cmd.Run()
	r.end = time.Now()
	if err != nil {
		return fmt.Errorf("make smoke (SMOKE_OUT=%s): %v; its output is in %s.out", r.out, err, r.out)
	}
	return nil
}

// writeScript writes the plain script: the commands of the sections with an exit code in the
// last make smoke's run.json, with the environment the suite gives them, after one torch probe.
func (r *smokeRun) writeScript() error {
	run, err := evidence.ReadRun(r.out)
	if err != nil {
		return err
	}
	s := `#!/usr/bin/env bash
# The commands make smoke ran on the fixture, as a plain script in the workspace $1, with the
# environment the suite gives them, after one torch probe. Each command's start and end go to $2.
set -euo pipefail
cd "$1"
export PYTHONPATH="$1/standins:$1/difftrain/src" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
`
	timed := func(id, command string) {
		s += fmt.Sprintf("t=$EPOCHREALTIME\n%s\necho \"%s $t $EPOCHREALTIME\" >> \"$2\"\n", command, id)
	}
	probe := evidence.Quote([]string{r.python, "-c", "import torch"})
	if !r.torch {
		probe += " || true # " + r.python + " has no torch: the suite's probe finds none either"
	}
	timed("probe", probe)
	for _, sec := range run.Sections {
		if sec.ExitCode != nil {
			timed(sec.Section, sec.Command)
			r.ran = append(r.ran, sec)
		}
	}
	if len(r.ran) == 0 {
		return fmt.Errorf("%s: no section ran a command", filepath.Join(r.out, evidence.RunFile))
	}
	r.script = filepath.Join(r.dir, "plain.sh")
	return writeBaseline(r.w, r.script, "<workspace> <times>", s, r.out)
}

// before is untimed: the plain script gets a fresh workspace laid out as the suite lays out its
// own; make smoke's binaries are rebuilt if a source changed, so that no timed run rebuilds them.
func (r *smokeRun) before(measured bool) error {
	if measured {
		return makeTargets(r.root, smokeBinaries...)
	}
	var err error
	r.ws, err = freshWorkspace(r.dir)
	return err
}

func (r *smokeRun) runScript() error {
	return command(testenv.Clean(), 0, "bash", r.script, r.ws, filepath.Join(r.dir, "times"))
}

// after checks a make smoke, untimed: a PASS, and where its time went.
func (r *smokeRun) after(measured bool) error {
	if !measured {
		return nil
	}
	defer os.RemoveAll(r.out)
	if s, err := evidence.ReadSummary(r.out); err != nil {
		return err
	} else if s.Verdict != evidence.Pass {
		return fmt.Errorf("%s: verdict %s, want PASS", filepath.Join(r.out, evidence.SummaryFile), s.Verdict)
	}
	p, err := readPhases(filepath.Join(r.out, evidence.JSONFile), r.start, r.end)
	r.phases = append(r.phases, p)
	return err
}

// plainTimes reads the lines "ID START END" the plain script wrote: each command's times by
// section ("probe" for the torch probe).
func (r *smokeRun) plainTimes() (map[string][]time.Duration, error) {
	p := filepath.Join(r.dir, "times")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	times := map[string][]time.Duration{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var id string
		var t0, t1 float64
		if _, err := fmt.Sscanf(line, "%s %f %f", &id, &t0, &t1); err != nil {
			return nil, fmt.Errorf("read %s: %q: %w", p, line, err)
		}
		times[id] = append(times[id], time.Duration((t1-t0)*float64(time.Second)))
	}
	return times, nil
}

// report prints the fixed cost and where it goes, and returns its row.
func (r *smokeRun) report(base, meas time.Duration) ([]string, error) {
	plain, err := r.plainTimes()
	if err != nil {
		return nil, err
	}
	fixed := meas - base
	ok := met(fixed < 500*time.Millisecond)
	var spans [4][]time.Duration
	tests := map[string][]time.Duration{}
	for _, p := range r.phases {
		for i, d := range p.spans {
			spans[i] = append(spans[i], d)
		}
		for id, d := range p.tests {
			tests[id] = append(tests[id], d)
		}
	}
	fmt.Fprintf(r.w, "  fixed cost %s (goal < 0.5 s: %s); make smoke's medians: %s before the suite's first output (make, run-smoke, "+
		"the settings check, gotestsum), %s in TestMain (the fixture laid out, facts, and the torch probe, which takes %s in the plain script), "+
		"%s in the sections, %s after them (JUnit, rendering, the seal)\n", secs(fixed), ok,
		secs(median(spans[0])), secs(median(spans[1])), secs(median(plain["probe"])), secs(median(spans[2])), secs(median(spans[3])))
	fmt.Fprintln(r.w, "  by section (medians; the suite's test time from go test's JSON, 10 ms resolution, against the plain script's command):")
	for _, s := range r.ran {
		if d, pd := tests[s.Section], plain[s.Section]; len(d) > 0 && len(pd) > 0 {
			fmt.Fprintf(r.w, "    %s-%s: test %s, command %s, difference %s\n", s.Section, s.Name, secs(median(d)), secs(median(pd)), secs(median(d)-median(pd)))
		}
	}
	return []string{fmt.Sprintf("| its fixed cost (make smoke − plain script) | | %s | | < 0.5 s | %s |", secs(fixed), ok)}, nil
}

// phaseTimes splits one make smoke by go test's JSON stream into spans: before its first event,
// TestMain (to the first section's run), the sections, and after its last event.
type phaseTimes struct {
	spans [4]time.Duration
	tests map[string]time.Duration // each section's test, by section number ("04")
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
			Time         time.Time
			Action, Test string
			Elapsed      float64
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
		if id, ok := strings.CutPrefix(ev.Test, "Test"); ok && len(id) >= 2 && slices.Contains([]string{"pass", "fail", "skip"}, ev.Action) {
			tests[id[:2]] = time.Duration(ev.Elapsed * float64(time.Second))
		}
	}
	if err := sc.Err(); err != nil {
		return phaseTimes{}, fmt.Errorf("read %s: %w", path, err)
	}
	if firstRun.IsZero() {
		return phaseTimes{}, fmt.Errorf("read %s: no test ran", path)
	}
	return phaseTimes{[4]time.Duration{first.Sub(start), firstRun.Sub(first), last.Sub(firstRun), end.Sub(last)}, tests}, nil
}

// writeBaseline writes a figure's plain script s to path, prints it to w (with its arguments,
// args), and removes the warm-up run's evidence, out, which the script was made from.
func writeBaseline(w io.Writer, path, args, s, out string) error {
	fmt.Fprintf(w, "  baseline: bash %s %s:\n    | %s\n", path, args, strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    | "))
	if err := os.WriteFile(path, []byte(s), 0o755); err != nil {
		return err
	}
	return os.RemoveAll(out)
}

// freshWorkspace makes dir/ws anew, laid out as the suite lays out its own (the fixture and the
// stand-in model packages), for a plain script; it returns its path.
func freshWorkspace(dir string) (string, error) {
	ws := filepath.Join(dir, "ws")
	err := os.RemoveAll(ws)
	if err == nil {
		err = os.Mkdir(ws, 0o755)
	}
	if err == nil {
		err = gpusmoke.WriteFixture(filepath.Join(ws, "difftrain"))
	}
	if err == nil {
		err = gpusmoke.WriteStandins(filepath.Join(ws, "standins"))
	}
	return ws, err
}
