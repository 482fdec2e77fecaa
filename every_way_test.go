package gpusmoke_test

// End-to-end tests of the three ways of running the suite (make smoke, a plain go test ./smoke,
// the bundle's run-smoke: see deploy's tests) and what each leaves and prints (issue "One owner
// for the evidence directory").

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

// requireDocuments checks that a run left its documents and that its checklist shows no file
// as MISSING.
func requireDocuments(t *testing.T, out string) {
	t.Helper()
	for _, f := range []string{evidence.ChecklistFile, evidence.ReportFile, evidence.SummaryFile, evidence.SumsFile} {
		require.FileExists(t, filepath.Join(out, f))
	}
	cl := fileText(filepath.Join(out, evidence.ChecklistFile))
	require.NotContains(t, cl, "MISSING", "a file the run wrote is listed as missing")
	require.NoFileExists(t, filepath.Join(out, evidence.ReserveFile), "the suite gives its reserve back when it ends")
	require.NoError(t, evidence.VerifySums(out))
}

// go test ./smoke, typed as the design card has it (no -v, no gotestsum), leaves checklist.md,
// report.md and summary.json, and prints where they are: on the terminal, since go test shows
// nothing of a passing package's output (script(1) gives the command one).
func TestPlainGoTest(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1) to give go test a terminal")
	}
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("script", "-qec", "go test -count=1 ./smoke", "/dev/null")
	cmd.Env = cleanEnv("SMOKE_OUT=" + out)
	got, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", got)
	requireDocuments(t, out)
	for _, f := range []string{evidence.ChecklistFile, evidence.ReportFile, evidence.SummaryFile} {
		require.Contains(t, strings.ReplaceAll(string(got), "\r", ""), filepath.Join(out, f), "it says where %s is", f)
	}
	s, err := evidence.ReadSummary(out)
	require.NoError(t, err)
	require.Equal(t, evidence.Pass, s.Verdict)
}

// Relative paths are relative to where the command was typed: the repository root under make,
// and under a plain go test (which runs in smoke/), never smoke/.
func TestRelativePaths(t *testing.T) {
	root, err := os.Getwd()
	require.NoError(t, err)
	name := "relout-" + filepath.Base(t.TempDir())
	t.Cleanup(func() { os.RemoveAll(filepath.Join(root, name)); os.RemoveAll(filepath.Join(root, "smoke", name)) })

	cmd := exec.Command("go", "test", "-count=1", "-run", "Test0[0-1]", "./smoke")
	cmd.Env = cleanEnv("SMOKE_OUT="+name, "SMOKE_PLAN=testdata/fixture-plan.yaml")
	got, _ := cmd.CombinedOutput()
	require.Contains(t, string(got), "smoke: INCOMPLETE;", "-run left sections out; output:\n%s", got)
	require.FileExists(t, filepath.Join(root, name, evidence.RunFile), "SMOKE_OUT=%s resolves against the repository root", name)
	require.NoDirExists(t, filepath.Join(root, "smoke", name))
	run, err := evidence.ReadRun(filepath.Join(root, name))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "testdata", "fixture-plan.yaml"), run.Plan.Path, "a relative SMOKE_PLAN is found")
	os.RemoveAll(filepath.Join(root, name))

	r := makeSmokeOut(t, name, "TESTFLAGS=-run Test0[0-1]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	require.FileExists(t, filepath.Join(root, name, evidence.SummaryFile))
}

// makeSmokeOut is makeSmoke with SMOKE_OUT given as is (relative, say).
func makeSmokeOut(t *testing.T, out string, env ...string) smokeRun {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv(append([]string{"SMOKE_OUT=" + out}, env...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	abs, aerr := filepath.Abs(out)
	require.NoError(t, aerr)
	return finish(t, abs, cmd, err, buf.String())
}

// What the terminal says: a passing run prints no === ATTR lines (the step streams stay), and a
// failure's reason is printed once.
func TestTerminalOutput(t *testing.T) {
	pass := makeSmoke(t, "TESTFLAGS=-run Test0[0-4]")
	require.Equal(t, evidence.ExitIncomplete, pass.exit, pass.tail())
	require.NotContains(t, pass.output, "=== ATTR")
	require.Regexp(t, regexp.MustCompile(`\[04-train \+\d+\.\ds\] .*training completed: global_step=2`), pass.output)

	fail := makeSmoke(t, "FIXTURE_FAIL=train_text_to_image", "TESTFLAGS=-run Test0[0-5]")
	reason := requireHalted(t, fail, 4)
	require.Equal(t, 1, strings.Count(fail.output, reason), "the reason %q is printed once:\n%s", reason, fail.output)
	require.NotContains(t, fail.output, "=== ATTR")
	require.Contains(t, fail.output, "run-smoke: exit 1 ")
}

// A bad setting through make smoke is one line from the suite (then make's own), and no
// renderer error; a SMOKE_OUT below a regular file is named as SMOKE_OUT.
func TestBadSettingThroughMake(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct{ env, want string }{
		{"SMOKE_SAMPLE_INTERVAL=fast", `^smoke: SMOKE_SAMPLE_INTERVAL=fast: want a duration`},
		{"SMOKE_OUT=" + filepath.Join(file, "out"), `^smoke: SMOKE_OUT=\S+/file/out: not writable`},
	} {
		cmd := exec.Command("make", "--no-print-directory", "smoke")
		cmd.Env = cleanEnv(tc.env)
		got, err := cmd.CombinedOutput()
		require.Error(t, err)
		lines := strings.Split(strings.TrimRight(string(got), "\n"), "\n")
		var own []string
		for _, l := range lines {
			if !strings.HasPrefix(l, "make: ***") && !strings.HasPrefix(l, "go: ") {
				own = append(own, l)
			}
		}
		require.Len(t, own, 1, "one line, then make's: %q", got)
		require.Regexp(t, tc.want, own[0])
	}
}

// CI's junit.xml: the project name, no empty testsuite, and a failed section's log tail in its
// testcase's <system-out>.
func TestJUnitForCI(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_FAIL=train_text_to_image", "TESTFLAGS=-run Test0[0-5]")
	requireHalted(t, r, 4)
	requireCIView(t, r, sections)
	var doc struct {
		Name   string `xml:"name,attr"`
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal([]byte(r.read(t, evidence.JUnitFile)), &doc))
	require.Equal(t, "difftrain-smoke", doc.Name)
	require.Len(t, doc.Suites, 1, "no empty testsuite")
	var out string
	for _, c := range doc.Suites[0].Cases {
		if c.Name == "Test04Train" {
			out = c.SystemOut
		}
	}
	require.Contains(t, out, "--- last 40 lines of logs/04-train.log ---")
	require.Contains(t, out, "RuntimeError: injected failure (FIXTURE_FAIL)")
	require.NoError(t, evidence.VerifySums(r.out), "the seal covers the junit.xml with its log tails")
}

// fixedNow pins the documents' "rendered at" time so that two renderings compare.
var fixedNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
