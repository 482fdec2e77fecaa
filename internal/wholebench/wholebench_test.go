package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/fleet"
	"github.com/difftrain/gpusmoke/junit"
	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/view"
)

// The stream figures run this test binary again as their child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childStream {
		os.Exit(streamChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every figure of the table can be measured, as make bench-whole runs them (once each, on
// small inputs): each gives its row of the summary, and further rows where it has them. No
// time is asserted.
func TestEveryFigureOnce(t *testing.T) {
	// make smoke runs in testenv.Clean's environment; the rest reads these.
	t.Setenv("WHOLEBENCH_CPUPROFILE", "")
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	t.Setenv("TMPDIR", t.TempDir())
	t.Chdir(root(t))
	var out, stderr bytes.Buffer
	code := run([]string{"-n", "1", "-stream-bytes", "1000000", "-fleet-runs", "30", "-junit-cases", "50", "-gpus", "0,1"}, &out, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), out.String())
	}
	_, summary, ok := strings.Cut(out.String(), "\n## Summary")
	if !ok {
		t.Fatalf("no summary:\n%s", out.String())
	}
	rows := strings.Count(summary, "\n| ") - 2 // the header and its rule
	var want []string
	for _, f := range figures(&bench{streamSize: 1000000, fleetRuns: 30, junitCases: 50, gpus: "0,1"}) {
		want = append(want, "\n| "+strings.SplitN(f.name, "(SMOKE_PYTHON", 2)[0])
	}
	want = append(want, "\n| its fixed cost (make smoke − plain script) | | ", "\n| its peak RSS (the runner's process, max of 1) | | ",
		"\n| its peak RSS: the node's suite (max of 1) | | ",
		"\n| its peak RSS: the largest GPU's run | | ", "\n| its peak RSS: the node's suite and every GPU's run, summed | | ")
	for _, w := range want {
		if !strings.Contains(summary, w) {
			t.Errorf("the summary has no row %q", w)
		}
	}
	if rows != len(figures(&bench{}))+1+4+3 {
		t.Errorf("%d rows, want one per figure, the fixed cost, 4 streams' peak RSS and the node's 3:\n%s", rows, summary)
	}
}

// A goal is of the ratio, or in seconds of the measured median, and says which side of its
// limit meets it; every figure's goal is one of these.
func TestGoals(t *testing.T) {
	for _, c := range []struct {
		goal  string
		ratio float64
		meas  time.Duration
		want  bool
	}{
		{"≤ 1.05", 1.05, time.Hour, true}, {"≤ 1.05", 1.06, 0, false},
		{"≥ 0.8", 0.8, 0, true}, {"≥ 0.8", 0.79, time.Hour, false},
		{"(≥ 0.8)", 0.9, 0, true}, {"(≥ 0.8)", 0.7, 0, false},
		{"≤ 5 s", 1000, 5 * time.Second, true}, {"≤ 5 s", 0.1, 5001 * time.Millisecond, false},
	} {
		if got := (figure{goal: c.goal}).met(c.ratio, c.meas); got != c.want {
			t.Errorf("goal %q, ratio %g, measured %s: met %v, want %v", c.goal, c.ratio, c.meas, got, c.want)
		}
	}
	for _, f := range figures(&bench{}) {
		var op string
		var limit float64
		if _, err := fmt.Sscanf(strings.Trim(f.goal, "()"), "%s %g", &op, &limit); err != nil || (op != "≤" && op != "≥") || limit <= 0 {
			t.Errorf("%s: goal %q", f.name, f.goal)
		}
	}
}

// The two sides run alternately, the baseline first, each between its before and after; an
// error names the run and the side.
func TestSidesAlternate(t *testing.T) {
	var calls []string
	fail := false
	log := func(what string) func() error { return func() error { calls = append(calls, what); return nil } }
	around := func(what string) func(bool) error {
		return func(measured bool) error {
			calls = append(calls, fmt.Sprintf("%s-%v", what, measured))
			if fail && what == "after" && measured && len(calls) > 6 {
				return errors.New("broken")
			}
			return nil
		}
	}
	s := &sides{baseline: log("base"), measured: log("meas"), before: around("before"), after: around("after")}
	base, meas, err := s.time(2, io.Discard, secs)
	want := "before-false base after-false before-true meas after-true before-false base after-false before-true meas after-true"
	if err != nil || len(base) != 2 || len(meas) != 2 || strings.Join(calls, " ") != want {
		t.Errorf("%d and %d times, err %v, calls %q", len(base), len(meas), err, calls)
	}
	calls, fail = nil, true
	if _, _, err := s.time(3, io.Discard, secs); err == nil || err.Error() != "run 2, measured: broken" {
		t.Errorf("err %v, want run 2, measured: broken", err)
	}
}

// The junit figures' junit.xml has n testcases, and the renderer reads it as the recorded run
// with its retries refused: every section keeps its own result.
func TestWriteBigJUnit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := copyRecorded(root(t), dir); err != nil {
		t.Fatal(err)
	}
	want, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeBigJUnit(dir, 500); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, evidence.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("<testcase ")); n != 500 {
		t.Fatalf("%d testcases, want 500", n)
	}
	if n := bytes.Count(b, []byte(`tests="500"`)); n != 2 || !bytes.Contains(b, []byte(`skipped="493"`)) {
		t.Error(`junit.xml does not say tests="500" twice and skipped="493"`)
	}
	if !bytes.Contains(b, []byte("already ran in this process (PASS); the runbook forbids retries&#xA;=== ATTR  Test04Train section 04&#xA;")) {
		t.Error("no refusal of 04-train with its output")
	}
	d, err := junit.Read(filepath.Join(dir, evidence.JUnitFile), view.MaxJUnitBytes)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range d.AllCases() { // as gotestsum writes them
		if c.Properties == nil || len(c.Properties.Property) < 4 || !slices.IsSortedFunc(c.Properties.Property, func(a, b junit.Property) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("testcase %d (%s): properties %v, want at least 4 in name order", i+1, c.Name, c.Properties)
		}
	}
	got, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got.Sections {
		if s.Result != want.Sections[i].Result || s.Reason != want.Sections[i].Reason {
			t.Errorf("section %s: %s (%s), want %s (%s)", s.Section, s.Result, s.Reason, want.Sections[i].Result, want.Sections[i].Reason)
		}
	}
	if err := loadAndRender(dir, renderOpts(root(t))); err != nil {
		t.Error(err)
	}
}

// The fleet figure's fleet: one directory per node, each with run.json; the failures, the
// interrupted runs and the missing summaries where writeFleet says.
func TestWriteFleet(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if err := copyRecorded(root(t), src); err != nil {
		t.Fatal(err)
	}
	if err := loadAndRender(src, renderOpts(root(t))); err != nil {
		t.Fatal(err)
	}
	job, runs, err := writeFleet(src, tmp, 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 200 {
		t.Fatalf("%d run.json files, want 200", len(runs))
	}
	instances, err := fleet.Dir(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fleet.Build(instances, tmp, "")
	// Every 10th failed (20), the 26th, 76th, 126th and 176th were interrupted, the 97th and
	// 194th have no summary.json.
	for verdict, n := range map[string]int{evidence.Fail: 20, evidence.Interrupted: 4, evidence.Pass: 174} {
		if f.Counts[verdict] != n {
			t.Errorf("%d %s, want %d (counts %v)", f.Counts[verdict], verdict, n, f.Counts)
		}
	}
	if len(f.Instances) != 200 {
		t.Errorf("%d instances, want 200", len(f.Instances))
	}
}

// The stream figures' child runs the step through the runner with a redacting log: every byte
// is logged, and a secret of the environment is not.
func TestStreamChild(t *testing.T) {
	const token = "hf_wholebenchTESTtoken0123456789abcdef"
	t.Setenv("HF_TOKEN", token)
	dir := t.TempDir()
	src := filepath.Join(dir, "stream.txt")
	if err := writeLogLines(src, 1<<20); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("login with " + token + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "logs", "04-train.log")
	var stdout, stderr bytes.Buffer
	if code := streamChild([]string{logPath, "cat", src}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), token) || !strings.HasSuffix(string(log), "login with "+redact.Marker("HF_TOKEN")+"\n") {
		t.Errorf("the log does not end with the token redacted: %q", log[max(0, len(log)-80):])
	}
	var res streamResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Bytes != 1<<20+int64(len("login with ")+len(token)+1) || res.MaxRSSKB <= 0 {
		t.Errorf("result %+v (%v), from %q", res, err, stdout.String())
	}
}

// The generated streams have exactly the size asked for.
func TestStreams(t *testing.T) {
	for name, write := range map[string]func(string, int64) error{"lines": writeLogLines, "base64": writeBase64} {
		for _, size := range []int64{0, 1, 1000, 1 << 20} {
			p := filepath.Join(t.TempDir(), name)
			if err := write(p, size); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != size {
				t.Errorf("%s of %d bytes: %d bytes", name, size, st.Size())
			}
		}
	}
}
