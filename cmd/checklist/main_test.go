package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp files inside the scripts")

// runs holds the evidence directories recorded from real runs of the suite
// (go run ./checklist/testdata/record); absolute, since some tests change directory.
var runs = abs(filepath.Join("..", "..", "checklist", "testdata", "runs"))

// upstream is a template of the upstream kind.
var upstream = abs(filepath.Join("..", "..", "testdata", "templates", "upstream.md"))

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"checklist": main})
}

// TestScripts runs checklist/testdata/script/*.txtar: the command as a user types it, on copies
// of the recorded runs. Besides testscript's own commands, a script has
//
//	recorded CASE DIR        copy the recorded run CASE to DIR
//	seal DIR [FILE...]       write DIR/SHA256SUMS as the suite does, leaving out FILE...
//	replace FILE OLD NEW     replace OLD, which must be there, with NEW in FILE
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           filepath.Join("..", "..", "checklist", "testdata", "script"),
		UpdateScripts: *update,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"recorded": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: recorded CASE DIR")
				}
				ts.Check(os.CopyFS(ts.MkAbs(args[1]), os.DirFS(filepath.Join(runs, args[0]))))
			},
			"seal": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 1 {
					ts.Fatalf("usage: seal DIR [FILE...]")
				}
				ts.Check(evidence.WriteSums(ts.MkAbs(args[0]), args[1:]...))
			},
			"replace": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 3 {
					ts.Fatalf("usage: replace FILE OLD NEW")
				}
				p := ts.MkAbs(args[0])
				b, err := os.ReadFile(p)
				ts.Check(err)
				if !bytes.Contains(b, []byte(args[1])) {
					ts.Fatalf("%s has no %q", args[0], args[1])
				}
				ts.Check(os.WriteFile(p, bytes.Replace(b, []byte(args[1]), []byte(args[2]), 1), 0o644))
			},
		},
	})
}

// copyRun copies the recorded run name into a fresh directory of the same name.
func copyRun(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(runs, name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestRunExitCodes: the exit codes of evidence/verdict.go, per subcommand. Every error is one line.
func TestRunExitCodes(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	t.Setenv("SMOKE_OPERATOR", "")
	t.Setenv("SMOKE_LOCATION", "")
	t.Chdir(t.TempDir()) // no ./runs here
	// tampered is a run rendered (and so sealed), then a log of it edited.
	tampered := func(t *testing.T) string {
		dir := copyRun(t, "fail")
		var stdout, stderr bytes.Buffer
		if code := run([]string{"render", dir}, &stdout, &stderr); code != 0 {
			t.Fatalf("render: exit %d: %s", code, stderr.String())
		}
		replaceIn(t, filepath.Join(dir, "logs", "04-train.log"), "RuntimeError", "ValueError")
		return dir
	}
	// suiteSealed is a run sealed as the suite seals it, before gotestsum writes its files.
	suiteSealed := func(t *testing.T) string {
		dir := copyRun(t, "pass")
		if err := evidence.WriteSums(dir, evidence.JUnitFile, evidence.JSONFile); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	type testCase struct {
		name   string
		args   func(t *testing.T) []string
		code   int
		stdout string // what stdout must hold
		stderr string // what stderr must hold; "" for nothing
	}
	dir := func(cmd, name string, flags ...string) func(*testing.T) []string {
		return func(t *testing.T) []string { return append(append([]string{cmd}, flags...), copyRun(t, name)) }
	}
	for _, tc := range []testCase{
		{"failed run renders", dir("render", "fail"), 0, "/fail/checklist.md\n",
			"checklist: no template at /runs/fail/workspace/difftrain/docs/mvp_smoke_checklist.md; not filled\n"},
		{"-exit-verdict, passed", dir("render", "pass", "-exit-verdict"), 0, "/pass/SHA256SUMS\n", "checklist: no template at"},
		{"-exit-verdict, incomplete (-run left sections out)", dir("render", "run-alone", "-exit-verdict"), evidence.ExitIncomplete, "/run-alone/summary.json\n", "checklist: no template at"},
		{"-exit-verdict, failed", dir("render", "fail", "-exit-verdict"), 1, "/fail/report.md\n", "checklist: no template at"},
		{"-exit-verdict, interrupted", dir("render", "interrupted", "-exit-verdict"), 1, "/interrupted/report.md\n", "checklist: no template at"},
		{"-template", func(t *testing.T) []string {
			return []string{"render", "-template", upstream, copyRun(t, "fail")}
		}, 0, "/fail/mvp_smoke_checklist.md\n", ""},
		{"fleet of runs never rendered: both MISSING", func(t *testing.T) []string {
			return []string{"fleet", "-o", filepath.Join(t.TempDir(), "m.md"), "-runs", filepath.Join(runs, "pass"), filepath.Join(runs, "fail")}
		}, 1, "m.md\n", "checklist: fleet FAIL: 2 MISSING of 2 instances\n"},
		{"fleet, every instance passed", func(t *testing.T) []string { return []string{"fleet", renderedFleet(t, "pass", "plan-skip-amp")} }, 0,
			"/fleet.md\n", ""},
		{"fleet, an instance failed", func(t *testing.T) []string { return []string{"fleet", renderedFleet(t, "pass", "fail")} }, 1,
			"/fleet.json\n", "checklist: fleet FAIL: 1 PASS, 1 FAIL of 2 instances\n"},
		{"fleet, an instance incomplete", func(t *testing.T) []string { return []string{"fleet", renderedFleet(t, "pass", "run-alone")} }, evidence.ExitIncomplete,
			"/fleet.json\n", "checklist: fleet INCOMPLETE: 1 PASS, 1 INCOMPLETE of 2 instances\n"},
		{"fleet, a node named left nothing", func(t *testing.T) []string { return []string{"fleet", renderedFleet(t, "pass"), "n0", "n9"} }, 1,
			"/fleet.md\n", "checklist: fleet FAIL: 1 PASS, 1 MISSING of 2 instances\n"},
		{"fleet, the report cannot be written", func(t *testing.T) []string {
			return []string{"fleet", "-o", filepath.Join(t.TempDir(), "no", "such", "dir", "fleet.md"), renderedFleet(t, "pass")}
		}, 3, "", "/no/such/dir/fleet.md: "},
		{"fleet, no such directory", func(t *testing.T) []string { return []string{"fleet", "nope"} }, 3, "", "checklist: fleet: stat nope: no such file or directory\n"},
		{"fleet with -exit-verdict", func(t *testing.T) []string { return []string{"fleet", "-exit-verdict", "x"} }, 2, "", "checklist fleet: flag provided but not defined: -exit-verdict"},
		{"junit.xml and go-test.json written after the suite's seal", func(t *testing.T) []string { return []string{"render", suiteSealed(t)} }, 0,
			"/pass/SHA256SUMS\n", "checklist: no template at"},
		{"verify, sealed", dir("verify", "pass"), 0, ": every file matches SHA256SUMS\n", ""},
		{"verify, a log edited", func(t *testing.T) []string { return []string{"verify", tampered(t)} }, evidence.ExitEvidence, "",
			"1 mismatched (logs/04-train.log)"},
		{"a log edited: not rendered", func(t *testing.T) []string { return []string{"render", tampered(t)} }, 3, "",
			"/fail: logs/04-train.log changed since the run sealed it (SHA256SUMS): not rendering it again"},
		{"newest, no runs", func(t *testing.T) []string { return []string{"newest", t.TempDir()} }, 3, "", "checklist: find the newest run: no complete run under "},
		{"render, no ./runs", func(t *testing.T) []string { return []string{"render"} }, 2, "",
			"checklist: no evidence directory named, and no complete run under ./runs: run make smoke (or run-smoke) first, or name a run (make checklist RUNS=<dir>)\n"},
		{"verify, no ./runs", func(t *testing.T) []string { return []string{"verify"} }, 2, "", "checklist: no evidence directory named, and no complete run under ./runs: "},
		{"no command", func(t *testing.T) []string { return nil }, 2, "", "usage: checklist render"},
		{"unknown flag", func(t *testing.T) []string { return []string{"render", "-x", "dir"} }, 2, "", "checklist render: flag provided but not defined: -x"},
		{"-o without a value", func(t *testing.T) []string { return []string{"fleet", "-o"} }, 2, "", "checklist fleet: flag needs an argument: -o"},
		{"SOURCE_DATE_EPOCH not a number", func(t *testing.T) []string {
			t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
			return []string{"render", copyRun(t, "pass")}
		}, 2, "", "checklist: SOURCE_DATE_EPOCH: \"yesterday\" is not a number of seconds\n"},
		{"missing directory", func(t *testing.T) []string { return []string{"render", "nope"} }, 3, "", "checklist: read nope/run.json: open nope/run.json: no such file or directory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args(t), &stdout, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if tc.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
			if strings.HasPrefix(stderr.String(), "checklist: ") && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("error is not one line: %q", stderr.String())
			}
		})
	}
}

// With no DIR, checklist renders the newest complete run under ./runs: a run with no
// summary.json (never rendered) or no finished_utc (stopped before its end) is passed over,
// however new. -newest RUNS prints the same directory.
func TestNewestCompleteRun(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	root := t.TempDir()
	t.Chdir(root)
	runsDir := filepath.Join(root, "runs")
	place := func(name, stamp string) string {
		dst := filepath.Join(runsDir, stamp)
		if err := os.CopyFS(dst, os.DirFS(filepath.Join(runs, name))); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	render := func(dir string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run([]string{"render", dir}, &stdout, &stderr); code != 0 {
			t.Fatalf("render %s: exit %d: %s", dir, code, stderr.String())
		}
	}
	older := place("fail", "20260301T090000Z")
	render(older)
	complete := place("pass", "20260302T090000Z")
	render(complete)
	place("fakegpu", "20260303T090000Z") // never rendered: no summary.json
	unfinished := place("run-alone", "20260304T090000Z")
	render(unfinished)
	replaceIn(t, filepath.Join(unfinished, evidence.RunFile), `"finished_utc": "`, `"stopped_utc": "`)
	if err := os.WriteFile(filepath.Join(runsDir, "20260305T090000Z"), []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"newest", "runs"}, &stdout, &stderr); code != 0 || stdout.String() != filepath.Join("runs", "20260302T090000Z")+"\n" {
		t.Errorf("newest runs: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if err := os.Remove(filepath.Join(complete, evidence.ChecklistFile)); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"render", "-exit-verdict"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), filepath.Join("runs", "20260302T090000Z", evidence.ChecklistFile)+"\n") {
		t.Errorf("stdout %q does not name the newest complete run's checklist", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(complete, evidence.ChecklistFile)); err != nil {
		t.Error("the newest complete run was not rendered")
	}
}

// renderedFleet is a fleet directory with one node, n0, n1, ..., per recorded run named, each
// rendered from its run.json as the suite renders a run at its end (which writes summary.json).
func renderedFleet(t *testing.T, names ...string) string {
	t.Helper()
	root := t.TempDir()
	for i, name := range names {
		dir := filepath.Join(root, fmt.Sprintf("n%d", i))
		if err := os.CopyFS(dir, os.DirFS(filepath.Join(runs, name))); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, evidence.SumsFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := checklist.RenderDir(dir, view.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// replaceIn replaces old with new, once, in the file p; old must be there.
func replaceIn(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %s", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
