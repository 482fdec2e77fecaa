package gpusmoke_test

// End-to-end tests of the suite as a user runs it: `make smoke` against the bundled fixture,
// with the fixture's fault knobs, and the bad settings an operator can give.

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/evidence"

	junit "github.com/joshdk/go-junit"
	"github.com/stretchr/testify/require"

	gpusmoke "github.com/difftrain/gpusmoke"
	"github.com/difftrain/gpusmoke/internal/testenv"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/view"
)

// smokeRun is one finished `make smoke`.
type smokeRun struct {
	out      string // SMOKE_OUT
	code     int    // make's exit status
	exit     int    // the suite's exit code, as run-smoke names it on make's last lines (code when make passed)
	output   string
	cases    map[string]junit.Test       // by test name, as a common JUnit reader sees them
	sections map[string]evidence.Section // by test name, with the properties the suite set
}

// result is a section's result and reason, from its JUnit properties.
func (r smokeRun) result(t *testing.T, name string) (string, string) {
	t.Helper()
	s, ok := r.sections[name]
	require.True(t, ok, "%s not in junit.xml; output:\n%s", name, r.tail())
	return s.Result, s.Reason
}

// notes are a section's notes, joined as the checklist shows them.
func (r smokeRun) notes(test string) string { return strings.Join(r.sections[test].Notes, "; ") }

func (r smokeRun) tail() string {
	lines := strings.Split(r.output, "\n")
	return strings.Join(lines[max(0, len(lines)-60):], "\n")
}

func (r smokeRun) read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.out, rel))
	require.NoError(t, err, "the run (exit %d) left no %s; its output:\n%s", r.exit, rel, r.tail())
	return string(b)
}

// cleanEnv is the test's environment without the suite's settings, the fixture's knobs, or the
// user's Python, pip, hub and CUDA settings (testenv.Clean), with extra appended.
func cleanEnv(extra ...string) []string { return testenv.Clean(extra...) }

// fixtureCheckout writes a fresh copy of the fixture to be run as a real checkout (DIFFTRAIN_DIR),
// and returns it with the settings that make it run like one installed with its extras: the
// stand-in model packages and its src on PYTHONPATH, and the fixture's plan.
func fixtureCheckout(t *testing.T) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "difftrain")
	require.NoError(t, gpusmoke.WriteFixture(dir))
	standins, err := filepath.Abs("testdata/standins")
	require.NoError(t, err)
	plan, err := filepath.Abs("testdata/fixture-plan.yaml")
	require.NoError(t, err)
	return dir, []string{"DIFFTRAIN_DIR=" + dir, "SMOKE_PLAN=" + plan,
		"PYTHONPATH=" + standins + string(os.PathListSeparator) + filepath.Join(dir, "src")}
}

// planWith writes the fixture's plan with old replaced by new once, and returns its path.
func planWith(t *testing.T, old, new string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture-plan.yaml")
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	p := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
	return p
}

// makeSmoke runs `make smoke` with the given settings and reads the JUnit it wrote.
func makeSmoke(t *testing.T, env ...string) smokeRun {
	t.Helper()
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	// TMPDIR: the fixture's workspace is made there, and removed with the test's.
	cmd.Env = cleanEnv(append([]string{"SMOKE_OUT=" + out, "TMPDIR=" + t.TempDir()}, env...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return finish(t, out, cmd, err, buf.String())
}

func finish(t *testing.T, out string, cmd *exec.Cmd, err error, output string) smokeRun {
	t.Helper()
	r := smokeRun{out: out, output: output, cases: map[string]junit.Test{}, sections: map[string]evidence.Section{}}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "make smoke: %v\n%s", err, output)
		r.code = ee.ExitCode()
	}
	r.exit = r.code
	if m := runSmokeExit.FindAllStringSubmatch(output, -1); len(m) > 0 {
		fmt.Sscan(m[len(m)-1][1], &r.exit)
	}
	suites, err := junit.IngestFile(filepath.Join(out, evidence.JUnitFile))
	require.NoError(t, err, "junit.xml must parse with a common JUnit reader; output:\n%s", r.tail())
	for _, s := range suites {
		for _, tc := range s.Tests {
			r.cases[tc.Name] = tc
		}
	}
	// The suite's own result property, as it wrote it, agrees with the status a common JUnit
	// reader sees, testcase by testcase (a refused retry under -count=N included).
	raw := rawResults(t, filepath.Join(out, evidence.JUnitFile))
	for i, c := range raw {
		if c.result == "" {
			continue // not a section: TestMain, or a package-level failure
		}
		want := map[string]junit.Status{evidence.Pass: junit.StatusPassed, evidence.Fail: junit.StatusFailed,
			evidence.Interrupted: junit.StatusFailed, evidence.Skipped: junit.StatusSkipped, evidence.NA: junit.StatusSkipped}[c.result]
		require.Equal(t, want, c.status, "testcase %d (%s): result property %s", i+1, c.name, c.result)
	}
	ev, err := view.Load(out)
	require.NoError(t, err, r.tail())
	for _, s := range ev.Sections {
		if s.Test != "" {
			r.sections[s.Test] = s
		}
	}
	return r
}

// rawCase is one testcase of junit.xml as written: its name, its result property and its status.
type rawCase struct {
	name, result string
	status       junit.Status
}

// rawResults reads junit.xml's testcases without any reader that might correct them.
func rawResults(t *testing.T, p string) []rawCase {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name  string `xml:"name,attr"`
				Props []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"properties>property"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc))
	var out []rawCase
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			rc := rawCase{name: c.Name, status: junit.StatusPassed}
			switch {
			case c.Failure != nil || c.Error != nil:
				rc.status = junit.StatusFailed
			case c.Skipped != nil:
				rc.status = junit.StatusSkipped
			}
			for _, p := range c.Props {
				if p.Name == evidence.PropResult {
					rc.result = p.Value
				}
			}
			out = append(out, rc)
		}
	}
	return out
}

var sections = []string{"Test00Preflight", "Test01Install", "Test02Dataset", "Test03Validate", "Test04Train",
	"Test05Artifacts", "Test06Resume", "Test07AMPFP16", "Test08AMPBF16"}

// requireEvidence checks the evidence directory's layout after a run.
func requireEvidence(t *testing.T, r smokeRun, logs ...string) {
	t.Helper()
	for _, f := range []string{evidence.JUnitFile, evidence.JSONFile, evidence.RunFile, "gpu_env.json",
		evidence.NvidiaSMIFile, evidence.ChecklistFile, evidence.ReportFile, evidence.SumsFile} {
		require.FileExists(t, filepath.Join(r.out, f))
	}
	for _, l := range logs {
		require.FileExists(t, filepath.Join(r.out, evidence.LogsDir, l+".log"))
	}
}

// runSmokeExit is the line run-smoke ends a run that did not pass with.
var runSmokeExit = regexp.MustCompile(`(?m)^run-smoke: exit (\d+) `)

// requireHalted checks that section n failed, the run exited 1 with every document rendered,
// and every later section that the run selected was blocked by it. It returns the failure's
// reason.
func requireHalted(t *testing.T, r smokeRun, n int) string {
	t.Helper()
	return requireHaltedIn(t, r, sections, n)
}

// requireHaltedIn is requireHalted for a plan whose sections' tests are tests.
func requireHaltedIn(t *testing.T, r smokeRun, tests []string, n int) string {
	t.Helper()
	require.Equal(t, 1, r.exit, "a failed run exits 1; output:\n%s", r.tail())
	requireDocuments(t, r.out)
	res, reason := r.result(t, tests[n])
	require.Equal(t, evidence.Fail, res, reason)
	slug := fmt.Sprintf("%02d-", n)
	for _, name := range tests[n+1:] {
		if _, ok := r.sections[name]; !ok {
			continue // not selected by -run
		}
		res, blocked := r.result(t, name)
		require.Equal(t, evidence.Skipped, res, name)
		require.Regexp(t, "^blocked by "+slug+"[a-z0-9-]+$", blocked, name)
	}
	return reason
}

func TestSmokeFixturePasses(t *testing.T) {
	r := makeSmoke(t)
	require.Equal(t, 0, r.code, r.tail())
	for _, name := range sections[:7] {
		res, reason := r.result(t, name)
		require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
	}
	for _, name := range sections[7:] {
		res, reason := r.result(t, name)
		require.Equal(t, evidence.NA, res, name)
		require.Contains(t, reason, "torch sees no CUDA")
	}
	requireEvidence(t, r, "01-install", "02-dataset", "03-validate", "04-train", "06-resume")
	requireCIView(t, r, sections)
	for _, f := range []string{"artifacts/04-train/checkpoint-2.pt", "artifacts/03-validate/env.json",
		"artifacts/06-resume/before/run_manifest.json", "artifacts/06-resume/after/run_manifest.json"} {
		require.FileExists(t, filepath.Join(r.out, f))
	}
	// Progress streams live, prefixed with the section and the elapsed time.
	require.Regexp(t, regexp.MustCompile(`\[04-train \+\d+\.\ds\] .*training completed: global_step=2`), r.output)
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	require.True(t, info.Fixture)
	require.True(t, info.Git.IsRepo)
	require.True(t, info.Git.Clean)
	require.Len(t, info.Plan.Deviations, 1)
	require.Contains(t, r.read(t, evidence.ChecklistFile), "FIXTURE")
	require.Contains(t, r.read(t, evidence.ReportFile), "FIXTURE")
	// No GPU was used: both documents say so first, above the verdict.
	for _, doc := range []string{evidence.ChecklistFile, evidence.ReportFile} {
		first, _, _ := strings.Cut(r.read(t, doc), "\n")
		require.True(t, strings.HasPrefix(first, "**"+evidence.CPUOnlyBanner+"**"), "%s starts %q", doc, first)
	}
	require.False(t, info.Compute.GPUUsed)

	// Approved commands only: what ran is exactly the plan's commands, in order.
	plan, err := runbook.Load("testdata/fixture-plan.yaml")
	require.NoError(t, err)
	var want []string
	for _, st := range plan.Steps[:7] {
		if len(st.Command) > 0 {
			want = append(want, st.ID()+": "+evidence.Quote(st.Argv(info.Python)))
		}
	}
	require.Equal(t, want, commandsRun(t, r))
	require.NoError(t, exec.Command("make", "--no-print-directory", "verify", "RUNS="+r.out).Run(), "SHA256SUMS must verify")
}

// commandsRun lists the commands the suite ran, from the go test -json stream.
func commandsRun(t *testing.T, r smokeRun) []string {
	t.Helper()
	re := regexp.MustCompile(`: (\d\d-[a-z0-9-]+: )running (.*) \(timeout `)
	var ran []string
	for _, line := range strings.Split(r.read(t, evidence.JSONFile), "\n") {
		var ev struct{ Action, Output string }
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Action != "output" {
			continue
		}
		if m := re.FindStringSubmatch(ev.Output); m != nil {
			ran = append(ran, m[1]+m[2])
		}
	}
	return ran
}

// A failing train step halts the run: 05-08 are blocked, the full log, the checklist and the report are kept.
func TestTrainFailureHalts(t *testing.T) {
	for _, flags := range []string{"", "-shuffle=on"} {
		t.Run("flags="+flags, func(t *testing.T) {
			r := makeSmoke(t, "FIXTURE_FAIL=train_text_to_image", "TESTFLAGS="+flags)
			require.Equal(t, "04-train: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL)", requireHalted(t, r, 4))
			requireEvidence(t, r, "04-train")
			require.Contains(t, r.read(t, "logs/04-train.log"), "RuntimeError: injected failure")
			require.NoFileExists(t, filepath.Join(r.out, "logs/06-resume.log"), "a blocked section must not run")
			// The failure text names the command, the exit code and the log, and shows its tail.
			var jerr junit.Error
			require.ErrorAs(t, r.cases["Test04Train"].Error, &jerr)
			require.Contains(t, jerr.Body, "04-train: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL)\n")
			require.Contains(t, jerr.Body, "command: "+r.sections["Test04Train"].Command+"\n")
			require.Contains(t, jerr.Body, "log: "+filepath.Join(r.out, "logs/04-train.log"))
			require.Contains(t, jerr.Body, "--- last 40 lines of logs/04-train.log ---")
			repro := r.read(t, evidence.ReproFile)
			require.Contains(t, repro, "train_text_to_image.py")
			require.Contains(t, r.read(t, evidence.ReportFile), "04")
		})
	}
}

// A NaN or an Inf loss fails training, though the run completes and saves its checkpoints.
func TestBadLossFailsTraining(t *testing.T) {
	for knob, logged := range map[string]string{"FIXTURE_NAN": "loss=nan", "FIXTURE_INF": "loss=inf"} {
		t.Run(knob, func(t *testing.T) {
			r := makeSmoke(t, knob+"=1", "TESTFLAGS=-run Test0[0-5]")
			reason := requireHalted(t, r, 4)
			require.Regexp(t, `^04-train: loss is NaN or Inf in 2 line\(s\), first: .*`+logged, reason)
		})
	}
}

// The dataset must be written where the config's data.data_root points: a directory with the
// same name under another parent is not it.
func TestDatasetElsewhereFails(t *testing.T) {
	plan := planWith(t, "--output-dir, ./data/smoke_text2image,", "--output-dir, ./other/smoke_text2image,")
	plan2 := filepath.Join(filepath.Dir(plan), "plan2.yaml")
	b, err := os.ReadFile(plan)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(plan2, []byte(strings.Replace(string(b),
		"    expected: 4 PNGs of 64x64", "    reason: writes the dataset elsewhere (test)\n    expected: 4 PNGs of 64x64", 1)), 0o644))
	r := makeSmoke(t, "SMOKE_PLAN="+plan2, "TESTFLAGS=-run Test0[0-2]")
	require.Regexp(t, `^dataset: written to \S+/other/smoke_text2image, but \S+ has data.data_root "data/smoke_text2image"`, requireHalted(t, r, 2))
}

// A step that commits moves HEAD while the branch stays: the guard names it.
func TestCommitMovesHEAD(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_COMMIT=validate_config", "TESTFLAGS=-run Test0[0-3]")
	require.Regexp(t, `^03-validate modified the difftrain checkout .*: HEAD moved from [0-9a-f]{12} to [0-9a-f]{12}$`, requireHalted(t, r, 3))
}

func TestMissingCheckpointFailsArtifacts(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_SKIP_CHECKPOINT=1")
	require.Regexp(t, `^artifacts: \S+/difftrain/_tmp_run/checkpoint-1.pt is missing$`, requireHalted(t, r, 5))
	require.FileExists(t, filepath.Join(r.out, "artifacts/04-train/checkpoint-2.pt"), "what exists is still kept")
}

// Artifacts above SMOKE_COPY_CAP_MB are hashed and referenced, not copied (0: every one).
func TestCopyCapReferences(t *testing.T) {
	r := makeSmoke(t, "SMOKE_COPY_CAP_MB=0", "TESTFLAGS=-run Test0[0-4]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	require.NoFileExists(t, filepath.Join(r.out, "artifacts/04-train/checkpoint-2.pt"))
	ref := r.read(t, "artifacts/04-train/checkpoint-2.pt.sha256ref")
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	sums, err := evidence.HashFiles(filepath.Join(info.DifftrainDir, "_tmp_run", "checkpoint-2.pt"))
	require.NoError(t, err)
	for _, sum := range sums {
		require.Contains(t, ref, "sha256: "+sum+"\n")
	}
}

// The resume must leave the checkpoints byte-identical.
func TestResumeTouchingCheckpointsFails(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_RESUME_RESAVE=1")
	require.Regexp(t, `^resume: the resume touched the checkpoints: \S+/checkpoint-2.pt \(changed\)$`, requireHalted(t, r, 6))
}

func TestTrackedFileChangeFailsTheStep(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_TOUCH_TRACKED=make_dummy_imagefolder")
	require.Contains(t, requireHalted(t, r, 2), "configs/base.yaml")
}

func TestPretendCUDARunsAMP(t *testing.T) {
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	r := makeSmoke(t, "PYTHONPATH="+pretend)
	require.Equal(t, 0, r.code, r.tail())
	for _, name := range sections {
		res, reason := r.result(t, name)
		require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
	}
	require.FileExists(t, filepath.Join(r.out, "artifacts/07-amp-fp16/checkpoint-2.pt"))

	// The bf16 fallback is a failure: the GPU did not run bf16.
	r = makeSmoke(t, "PYTHONPATH="+pretend, "FIXTURE_NO_BF16=1")
	res, _ := r.result(t, "Test07AMPFP16")
	require.Equal(t, evidence.Pass, res)
	res, reason := r.result(t, "Test08AMPBF16")
	require.Equal(t, evidence.Fail, res)
	require.Contains(t, reason, "did not run bf16")
}

// The conformance lane (make conformance) on the fixture, as CI runs it: the stand-in model
// packages on PYTHONPATH, a real torch (the fixture trains a tiny real model and saves real
// torch.save checkpoints), the install step an import check. 00-06 PASS; AMP is SKIPPED (no CUDA).
func TestConformanceLane(t *testing.T) {
	py := torchPython(t)
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("make", "--no-print-directory", "conformance")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), "CONFORMANCE_PYTHON="+py)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	r := finish(t, out, cmd, err, buf.String())
	require.Equal(t, 0, r.code, r.tail())
	for _, name := range sections[:7] {
		res, reason := r.result(t, name)
		require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
	}
	for _, name := range sections[7:] {
		res, reason := r.result(t, name)
		require.Equal(t, evidence.NA, res, name)
		require.Contains(t, reason, "torch sees no CUDA")
	}
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	require.Contains(t, info.Plan.Name, "conformance")
	var facts struct {
		Python struct {
			Torch    struct{ Version string } `json:"torch"`
			Packages map[string]string        `json:"packages"`
		} `json:"python"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.read(t, "gpu_env.json")), &facts))
	require.Regexp(t, `^\d+\.\d+`, facts.Python.Torch.Version)
	require.Contains(t, facts.Python.Packages["diffusers"], "gpusmoke.standin", "the facts show that stand-ins ran")
}

// torchPython is Debian's python3 with python3-torch (CPU), which .ci/run installs.
func torchPython(t *testing.T) string {
	t.Helper()
	return debianPython(t, "torch")
}

// debianPython is /usr/bin/python3 when it imports module (Debian's python3-<module>); the test
// skips otherwise, unless CI says (SMOKE_REQUIRE_TORCH=1) that the Debian packages are there.
func debianPython(t *testing.T, module string) string {
	t.Helper()
	return testenv.DebianPython(t, module)
}

// With -tags gpu on a machine without NVIDIA driver or GPU, preflight fails at once and no step runs.
func TestGPUModeWithoutGPU(t *testing.T) {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("this machine has an NVIDIA driver")
	}
	// An interpreter that would take 60 s proves preflight does not wait for the Python probe.
	slow := filepath.Join(t.TempDir(), "python")
	require.NoError(t, os.WriteFile(slow, []byte("#!/bin/sh\nsleep 60\n"), 0o755))
	start := time.Now()
	r := makeSmoke(t, "GPU=1", "SMOKE_PYTHON="+slow)
	require.Contains(t, requireHalted(t, r, 0), "no NVIDIA driver/GPU")
	entries, _ := os.ReadDir(filepath.Join(r.out, evidence.LogsDir))
	require.Empty(t, entries, "no step may run")
	t.Logf("preflight test time %v; whole make smoke %v", r.cases["Test00Preflight"].Duration, time.Since(start))
}

// Each section runs once: -count=3 does not re-run a section, failed or not.
func TestNoRetry(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_FAIL=train_text_to_image", "TESTFLAGS=-count=3 -run Test0[0-4]")
	stream := r.read(t, evidence.JSONFile) // each output line once, unlike the terminal's failure summary
	require.Len(t, regexp.MustCompile(`"Action":"run","Package":"[^"]*","Test":"Test04Train"`).FindAllStringIndex(stream, -1), 3, "-count=3 calls the test thrice")
	require.Equal(t, 1, strings.Count(stream, "04-train: running "), "the train step ran more than once")
	require.Equal(t, 1, strings.Count(stream, "02-dataset: running "), "a passed step ran again")
	require.Equal(t, 2, strings.Count(stream, `"Key":"reason","Value":"already ran in this process (FAIL); the runbook forbids retries"`), "both refusals name the first result")
	res, _ := r.result(t, "Test04Train")
	require.Equal(t, evidence.Fail, res, "the checklist keeps the real result, not the refused retry")
}

// Ctrl-C during a step kills its process group, marks it INTERRUPTED, and still renders the checklist.
func TestInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), "FIXTURE_HANG=train_text_to_image")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for !strings.Contains(fileText(filepath.Join(out, "logs/04-train.log")), "\n") {
		require.NoError(t, ctx.Err(), "the train step never started:\n%s", buf.String())
		time.Sleep(100 * time.Millisecond)
	}
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(fileText(filepath.Join(out, evidence.RunFile))), &info))
	sent := time.Now()
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)) // what a terminal's Ctrl-C does
	err := cmd.Wait()
	t.Logf("make exited %v after %v", err, time.Since(sent))
	r := finish(t, out, cmd, err, buf.String())
	res, reason := r.result(t, "Test04Train")
	require.Equal(t, evidence.Interrupted, res, r.tail())
	require.Contains(t, reason, "interrupted")
	require.Contains(t, r.read(t, "logs/04-train.log"), "process group")
	require.FileExists(t, filepath.Join(out, evidence.ChecklistFile))
	requireCIView(t, r, sections)
	requireNoProcessIn(t, info.Workspace)
}

func fileText(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// requireNoProcessIn waits a few seconds for the step's processes to be gone: a SIGKILL lands
// asynchronously, so a check made once, at once, fails on a busy machine.
func requireNoProcessIn(t *testing.T, dir string) {
	t.Helper()
	var left []string
	require.Eventually(t, func() bool { left = processesIn(dir); return len(left) == 0 }, 5*time.Second, 50*time.Millisecond,
		"a process of the step survived: %v", &left)
}

// processesIn lists live processes whose working directory or command line mentions dir.
func processesIn(dir string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		cmdline := strings.ReplaceAll(fileText(filepath.Join(p, "cmdline")), "\x00", " ")
		stat := fileText(filepath.Join(p, "stat"))
		if i := strings.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		if strings.HasPrefix(cwd, dir) || strings.Contains(cmdline, dir) {
			found = append(found, p+": "+cmdline)
		}
	}
	return found
}

// A hung step is killed at the plan's timeout and marked FAIL, its log kept.
func TestTimeout(t *testing.T) {
	b, err := os.ReadFile("testdata/fixture-plan.yaml")
	require.NoError(t, err)
	plan := strings.Replace(string(b), "name: train\n    title: Smoke training (2 steps)\n", "name: train\n    title: Smoke training (2 steps)\n", 1)
	i := strings.Index(plan, "name: train\n")
	j := i + strings.Index(plan[i:], "timeout: 30m")
	plan = plan[:j] + "timeout: 2s" + plan[j+len("timeout: 30m"):]
	p := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(p, []byte(plan), 0o644))
	r := makeSmoke(t, "SMOKE_PLAN="+p, "FIXTURE_HANG=train_text_to_image")
	res, reason := r.result(t, "Test04Train")
	require.Equal(t, evidence.Fail, res)
	require.Contains(t, reason, "timed out after 2s")
	require.Contains(t, r.read(t, "logs/04-train.log"), "timed out after 2s; process group")
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the compiled suite smokeBinary made: tests leave nothing in /tmp.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// smokeBinary is the suite compiled once with go test -c, as an instance without Go runs it.
func smokeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smoke-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "smoke.test")
		out, err := exec.Command("go", "test", "-c", "-o", binPath, "./smoke").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go test -c ./smoke: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// Bad settings: one line on stderr that names the setting, exit status 2, and no section runs.
func TestBadSettings(t *testing.T) {
	bin := smokeBinary(t)
	dir := t.TempDir()
	notCheckout := filepath.Join(dir, "difftrain")
	require.NoError(t, os.Mkdir(notCheckout, 0o755))
	aFile := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(aFile, nil, 0o644))
	badPlan := filepath.Join(dir, "plan.yaml")
	require.NoError(t, os.WriteFile(badPlan, []byte("steps: [\n"), 0o644))
	noReason, err := os.ReadFile("testdata/bad/plan/changed-command-no-reason.yaml")
	require.NoError(t, err)
	noReasonPlan := filepath.Join(dir, "no-reason.yaml")
	require.NoError(t, os.WriteFile(noReasonPlan, noReason, 0o644))

	type testCase struct {
		name, env, want string
	}
	run := func(t *testing.T, tc testCase) {
		cmd := exec.Command(bin, "-test.run", "Test0")
		cmd.Env = cleanEnv(tc.env, "SMOKE_OUT="+filepath.Join(t.TempDir(), "out"), "TMPDIR="+t.TempDir())
		if strings.HasPrefix(tc.env, "SMOKE_OUT=") {
			cmd.Env = cleanEnv(tc.env, "TMPDIR="+t.TempDir())
		}
		var stderr, stdout bytes.Buffer
		cmd.Stderr, cmd.Stdout = &stderr, &stdout
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 2, ee.ExitCode())
		msg := strings.TrimRight(stderr.String(), "\n")
		require.NotContains(t, msg, "\n", "one line")
		require.Regexp(t, "^smoke: "+tc.want, msg)
		require.NotContains(t, stdout.String(), "=== RUN", "no section may run")
	}
	for _, tc := range []testCase{
		{"missing checkout", "DIFFTRAIN_DIR=" + filepath.Join(dir, "nope"), `DIFFTRAIN_DIR=\S+/nope: no such file or directory`},
		{"not a checkout", "DIFFTRAIN_DIR=" + notCheckout, `DIFFTRAIN_DIR=\S+/difftrain: not a difftrain checkout: no scripts/train_text_to_image.py`},
		{"python not found", "SMOKE_PYTHON=python-does-not-exist", `SMOKE_PYTHON=python-does-not-exist: interpreter not found`},
		{"out not writable", "SMOKE_OUT=" + filepath.Join(aFile, "out"), `SMOKE_OUT=\S+/file/out: not writable`},
		{"out read-only", "SMOKE_OUT=/proc/smoke-out", `SMOKE_OUT=/proc/smoke-out: not writable`},
		{"plan does not parse", "SMOKE_PLAN=" + badPlan, `SMOKE_PLAN=\S+: plan \S+: yaml: line \d+`},
		{"plan without reason", "SMOKE_PLAN=" + noReasonPlan, `SMOKE_PLAN=\S+: plan \S+: step 02-dataset: command: differs from the runbook .* and has no reason`},
		{"bad sample interval", "SMOKE_SAMPLE_INTERVAL=fast", `SMOKE_SAMPLE_INTERVAL=fast: want a duration`},
		{"min free out of range", "SMOKE_MIN_FREE_MB=1099511627777", `SMOKE_MIN_FREE_MB=1099511627777: want a whole number of MiB`},
		{"not enough free space", "SMOKE_MIN_FREE_MB=1073741824", `SMOKE_OUT=\S+: only \d+ MiB free, a run needs at least 1073741824 MiB \(SMOKE_MIN_FREE_MB\)`},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

// A secret the training writes into env.json (and so the manifest) and config.resolved.yaml is
// redacted in their copies: no file in SMOKE_OUT holds it.
func TestSecretsInCopiedArtifacts(t *testing.T) {
	const secret = "hf_e2eArtifactSecret42"
	r := makeSmoke(t, "HF_TOKEN="+secret, "FIXTURE_LEAK_ARTIFACTS=HF_TOKEN", "TESTFLAGS=-run Test0[0-5]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	for _, f := range []string{"artifacts/04-train/env.json", "artifacts/04-train/run_manifest.json", "artifacts/04-train/config.resolved.yaml"} {
		require.Contains(t, r.read(t, f), "[REDACTED:HF_TOKEN]", "%s carried the secret", f)
	}
	requireNoSecret(t, r.out, secret)
}

// requireNoSecret fails when any file of the evidence directory dir holds secret. The
// fixture's scratch workspace (workspace/, unsealed, not evidence) holds difftrain's own
// outputs as it wrote them, and is left out.
func requireNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == filepath.Join(dir, evidence.WorkspaceDir) {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		require.False(t, bytes.Contains(b, []byte(secret)), "%s holds the secret", p)
		return nil
	})
	require.NoError(t, err)
}

// Secrets never reach the evidence: a token a step prints is redacted in the logs, the JUnit and
// the go test -json stream.
func TestSecretsAreRedacted(t *testing.T) {
	const secret = "hf_e2eSecretValue42"
	r := makeSmoke(t, "HF_TOKEN="+secret, "MY_API_KEY=k3y-"+secret, "FIXTURE_LEAK=HF_TOKEN,MY_API_KEY", "TESTFLAGS=-run Test0[0-2]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	require.Contains(t, r.read(t, "logs/02-dataset.log"), "[fixture] HF_TOKEN=[REDACTED:HF_TOKEN]")
	requireNoSecret(t, r.out, secret)
}

// SIGTERM to the suite during a step kills the step's process group, leaves no process behind,
// flushes the log and records the interruption in run.json.
func TestSIGTERM(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command(smokeBinary(t), "-test.v")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), "FIXTURE_HANG=validate_config")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(fileText(filepath.Join(out, "logs/03-validate.log")), "hanging") {
		require.True(t, time.Now().Before(deadline), "the validate step never started:\n%s", buf.String())
		time.Sleep(50 * time.Millisecond)
	}
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(fileText(filepath.Join(out, evidence.RunFile))), &info))
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a hang, not a slow machine: the suite takes well under a second
		_ = cmd.Process.Kill()
		t.Fatalf("the suite did not stop within 30 s of SIGTERM:\n%s", buf.String())
	}
	requireNoProcessIn(t, info.Workspace)
	require.Contains(t, fileText(filepath.Join(out, "logs/03-validate.log")), "interrupted after")
	require.NoError(t, json.Unmarshal([]byte(fileText(filepath.Join(out, evidence.RunFile))), &info))
	require.Equal(t, "terminated", info.Interrupted)
	require.Contains(t, buf.String(), "--- FAIL: Test03Validate")
	require.Contains(t, buf.String(), "blocked by 03-validate")
}

// Untracked files written outside the plan's output directories are listed in the report.
func TestUntrackedFilesAreListed(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_UNTRACKED=validate_config", "TESTFLAGS=-run Test0[0-3]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	require.Equal(t, []string{"notes/validate_config.txt"}, info.Untracked, "_tmp_run/ is declared, notes/ is not")
	require.Contains(t, r.read(t, evidence.ReportFile), "notes/validate_config.txt")
}

// A step that prints a lot, in long lines and invalid UTF-8, is logged whole while the live
// stream (and so go test -json and gotestsum) stays small.
func TestHugeOutputIsLoggedWhole(t *testing.T) {
	const noise = 40 << 20
	r := makeSmoke(t, fmt.Sprintf("FIXTURE_NOISE=%d", noise), "TESTFLAGS=-run Test0[0-4]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	st, err := os.Stat(filepath.Join(r.out, "logs/04-train.log"))
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(noise))
	js, err := os.Stat(filepath.Join(r.out, evidence.JSONFile))
	require.NoError(t, err)
	require.Less(t, js.Size(), int64(4<<20), "the live stream must be bounded")
}

// One section runs alone with -run when its inputs exist: here 05 re-verifies an earlier run,
// after the resume rewrote the repro artifacts with train.resume_from set, and says that it
// checked files this run did not write.
func TestSectionAloneReverifies(t *testing.T) {
	dir, env := fixtureCheckout(t)
	r := makeSmoke(t, env...)
	require.Equal(t, 0, r.code, r.tail())

	r = makeSmoke(t, append(env, "TESTFLAGS=-run Test05Artifacts")...)
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	res, reason := r.result(t, "Test05Artifacts")
	require.Equal(t, evidence.Pass, res, reason)
	require.Len(t, r.sections, 1, "only 05 ran")
	require.Contains(t, r.notes("Test05Artifacts"), "written by 06-resume's command")
	require.Contains(t, r.read(t, evidence.ReportFile), "CHECKED EXISTING FILES")
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	require.Equal(t, []string{"05-artifacts"}, info.CheckedExisting)

	// A broken artifact makes the same re-verification fail, naming the file.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_tmp_run", "env.json"), []byte(`{"python": 3}`), 0o644))
	r = makeSmoke(t, append(env, "TESTFLAGS=-run Test05Artifacts")...)
	require.NotEqual(t, 0, r.code)
	res, reason = r.result(t, "Test05Artifacts")
	require.Equal(t, evidence.Fail, res)
	require.Contains(t, reason, "env.json")
}

// An earlier run's files in the output directories are found before anything runs: the run
// stops with one line naming the directory, or, with SMOKE_LEFTOVERS=move, they are moved into
// the evidence and never checked as this run's. Without this, a second run whose training
// writes no checkpoint passed 04 and 05 on the first run's.
func TestLeftovers(t *testing.T) {
	dir, env := fixtureCheckout(t)
	r := makeSmoke(t, env...)
	require.Equal(t, 0, r.code, r.tail())
	first, err := evidence.HashFiles(filepath.Join(dir, "_tmp_run", "checkpoint-1.pt"))
	require.NoError(t, err)

	cmd := exec.Command(smokeBinary(t), "-test.run", "Test0")
	cmd.Env = cleanEnv(append(env, "FIXTURE_SKIP_CHECKPOINT=1,2", "SMOKE_OUT="+filepath.Join(t.TempDir(), "out"))...)
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Run(), &ee)
	require.Equal(t, 2, ee.ExitCode())
	msg := strings.TrimRight(stderr.String(), "\n")
	require.NotContains(t, msg, "\n", "one line")
	require.Regexp(t, "^smoke: leftovers from an earlier run in "+regexp.QuoteMeta(filepath.Join(filepath.Dir(dir), "data", "smoke_text2image"))+` \(5 file\(s\), e\.g\. \S+\); \S+/difftrain/_tmp_run \(\d+ file\(s\), e\.g\. \S+\): `, msg)
	require.NotContains(t, stdout.String(), "=== RUN", "no section may run")

	r = makeSmoke(t, append(env, "FIXTURE_SKIP_CHECKPOINT=1,2", "SMOKE_LEFTOVERS=move")...)
	require.Regexp(t, `^artifacts: \S+/difftrain/_tmp_run/checkpoint-1.pt is missing$`, requireHalted(t, r, 5))
	moved, err := evidence.HashFiles(filepath.Join(r.out, "leftovers", "difftrain", "_tmp_run", "checkpoint-1.pt"))
	require.NoError(t, err, "the earlier run's checkpoint is kept in the evidence")
	require.Equal(t, first[filepath.Join(dir, "_tmp_run", "checkpoint-1.pt")], moved[filepath.Join(r.out, "leftovers", "difftrain", "_tmp_run", "checkpoint-1.pt")])
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	require.Len(t, info.Leftovers, 2, "the dataset and _tmp_run")
	require.Contains(t, r.read(t, evidence.ReportFile), "## Leftovers moved aside")
}

// Every file a section checks was written by its step's command in this run.
func TestFilesMustBeWrittenByTheirStep(t *testing.T) {
	t.Run("validate writes nothing", func(t *testing.T) {
		r := makeSmoke(t, "FIXTURE_NO_REPRO=validate_config", "TESTFLAGS=-run Test0[0-3]")
		require.Regexp(t, `^validate: \S+/difftrain/_tmp_run/env.json is missing$`, requireHalted(t, r, 3))
	})
	t.Run("training leaves validate's files", func(t *testing.T) {
		r := makeSmoke(t, "FIXTURE_NO_REPRO=train_text_to_image")
		require.Regexp(t, `^05-artifacts: \S+/difftrain/_tmp_run/env.json was not written by 04-train's command in this run$`, requireHalted(t, r, 5))
	})
}

// A machine whose NVML sees a GPU but whose torch cannot use it fails, with -tags gpu or without.
func TestGPUThatTorchCannotUse(t *testing.T) {
	t.Run("at preflight", func(t *testing.T) {
		r := makeSmoke(t, "FAKEGPU=1", "SMOKE_PYTHON="+torchPython(t))
		require.Regexp(t, `^preflight: GPU health: torch \S+ .*sees no CUDA device while NVML sees 1 GPU\(s\)`, requireHalted(t, r, 0))
	})
	t.Run("torch not installed at preflight: the first env.json", func(t *testing.T) {
		r := makeSmoke(t, "FAKEGPU=1")
		require.Regexp(t, `^03-validate: \S+/env.json: cuda_available is false, but NVML sees 1 GPU\(s\) \(NVIDIA GeForce RTX 4090\)`, requireHalted(t, r, 3))
	})
}

// A failed step's reason carries its cause, not only its exit code.
func TestFailureReasons(t *testing.T) {
	t.Run("missing extras: the root exception", func(t *testing.T) {
		dir, _ := fixtureCheckout(t) // run as a checkout with no extras installed, the install step skipped
		plan := planWith(t, "    reason: >-\n      The fixture runs offline", "    skip: true\n    reason: >-\n      The fixture runs offline")
		r := makeSmoke(t, "DIFFTRAIN_DIR="+dir, "SMOKE_PLAN="+plan, "TESTFLAGS=-run Test0[0-4]")
		require.Equal(t, "04-train: exit code 1: ModuleNotFoundError: No module named 'datasets' (raised as ImportError: Missing optional dependencies. Install with `pip install -e .[text2image]`.)",
			requireHalted(t, r, 4))
	})
	t.Run("pip's own error", func(t *testing.T) {
		pip := exec.Command("python", "-m", "pip", "--version")
		pip.Env = cleanEnv()
		if err := pip.Run(); err != nil {
			t.Skipf("python has no pip: %v", err)
		}
		plan := planWith(t, `command: [python, -c, "import difftrain, datasets, diffusers, torchvision, transformers; print('difftrain', difftrain.__version__, 'imports from', difftrain.__file__)"]`,
			`command: [python, -m, pip, install, --no-index, --no-cache-dir, -e, "./difftrain[text2image]"]`)
		r := makeSmoke(t, "SMOKE_PLAN="+plan, "SMOKE_PYTHON=python", "PIP_CONFIG_FILE=/dev/null", "TESTFLAGS=-run Test0[0-1]")
		require.Regexp(t, `^01-install: exit code 1: ERROR: No matching distribution found for \S+$`, requireHalted(t, r, 1))
	})
	t.Run("CUDA out of memory", func(t *testing.T) {
		r := makeSmoke(t, "FIXTURE_CRASH=oom", "TESTFLAGS=-run Test0[0-4]")
		require.Regexp(t, `^04-train: exit code 1: torch.cuda.OutOfMemoryError: CUDA out of memory\. Tried to allocate`, requireHalted(t, r, 4))
	})
	t.Run("killed by SIGKILL", func(t *testing.T) {
		r := makeSmoke(t, "FIXTURE_CRASH=sigkill", "TESTFLAGS=-run Test0[0-4]")
		require.Equal(t, "04-train: killed by signal 9 (SIGKILL), often the kernel's OOM killer when memory runs out (see dmesg)", requireHalted(t, r, 4))
	})
}

// The GPU path end to end, on a go-nvml mock RTX 4090 (-tags "gpu fakegpu") and the pretend-CUDA
// torch: strict preflight, telemetry per section, env.json against NVML, and the faults.
func TestFakeGPU(t *testing.T) {
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	gpu := []string{"GPU=1", "FAKEGPU=1"}

	t.Run("passes", func(t *testing.T) {
		r := makeSmoke(t, append(gpu, "PYTHONPATH="+pretend)...)
		require.Equal(t, 0, r.code, r.tail())
		for _, name := range sections {
			res, reason := r.result(t, name)
			require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
		}
		train := r.sections["Test04Train"]
		require.Equal(t, "34", train.Peaks.TempC, "the section's telemetry peaks are in its properties")
		require.Contains(t, r.read(t, evidence.TelemetryFile), ",04-train,0,")
		require.Contains(t, r.read(t, evidence.ChecklistFile), "## Telemetry peaks")
		require.Contains(t, r.read(t, "gpu_env.json"), `"name": "NVIDIA GeForce RTX 4090"`)
	})
	t.Run("torch without CUDA fails strict preflight", func(t *testing.T) {
		r := makeSmoke(t, append(gpu, "SMOKE_PYTHON="+torchPython(t))...)
		require.Contains(t, requireHalted(t, r, 0), "CUDA")
	})
	t.Run("ECC errors fail preflight", func(t *testing.T) {
		r := makeSmoke(t, append(gpu, "PYTHONPATH="+pretend, "SMOKE_FAKE_GPU=rtx4090,ecc")...)
		require.Contains(t, requireHalted(t, r, 0), "ECC")
		require.Contains(t, r.read(t, evidence.ReportFile), "ECC")
	})
	t.Run("torch and NVML disagreeing fails preflight", func(t *testing.T) {
		r := makeSmoke(t, append(gpu, "PYTHONPATH="+pretend, "SMOKE_FAKE_GPU=h200")...)
		require.Contains(t, requireHalted(t, r, 0), "H200")
	})
	t.Run("an Xid fails the step it happens in", func(t *testing.T) {
		r := makeSmoke(t, append(gpu, "PYTHONPATH="+pretend, "SMOKE_FAKE_GPU=rtx4090,xid=79")...)
		require.Contains(t, requireHalted(t, r, 1), "Xid error [79]")
	})
	t.Run("a bf16 fallback fails the AMP section", func(t *testing.T) {
		r := makeSmoke(t, append(gpu, "PYTHONPATH="+pretend, "FIXTURE_NO_BF16=1")...)
		res, reason := r.result(t, "Test08AMPBF16")
		require.Equal(t, evidence.Fail, res)
		require.Contains(t, reason, "the GPU did not run bf16")
	})
}

// make checklist as a user types it: one run is rendered again (and re-sealed), several runs
// become one matrix.
func TestMakeChecklist(t *testing.T) {
	pass := makeSmoke(t, "TESTFLAGS=-run Test0[0-2]")
	fail := makeSmoke(t, "FIXTURE_FAIL=make_dummy_imagefolder", "TESTFLAGS=-run Test0[0-2]")
	make := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}

	require.NoError(t, os.Remove(filepath.Join(pass.out, evidence.ChecklistFile)))
	out := make("checklist", "RUNS="+pass.out)
	require.Contains(t, out, filepath.Join(pass.out, evidence.ChecklistFile))
	require.FileExists(t, filepath.Join(pass.out, evidence.ChecklistFile))
	make("verify", "RUNS="+pass.out)

	// Several runs make one fleet report, which says a run failed in its exit status.
	fleet := filepath.Join(t.TempDir(), "fleet.md")
	cmd := exec.Command("make", "--no-print-directory", "checklist", "RUNS="+pass.out+" "+fail.out, "MATRIX="+fleet)
	cmd.Env = cleanEnv()
	got, err := cmd.CombinedOutput()
	require.Error(t, err, "a fleet with a failed run must not exit 0:\n%s", got)
	b, err := os.ReadFile(fleet)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^\| 02-dataset \| PASS \| \*\*FAIL\*\* \|$`, string(b))
	require.FileExists(t, strings.TrimSuffix(fleet, ".md")+".json")
}
