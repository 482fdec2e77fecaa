package smoke

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/runner"
)

// Suite is the state one run of the sections shares: settings, the machine's facts, and which
// sections have run. Sections hand their outputs on through files in the workspace, never
// through this struct, so that one section can run alone with -run.
type Suite struct {
	Settings *Settings
	Facts    *gpuenv.Facts
	FactsErr error // a preflight failure, reported by section 00
	Info     artifacts.RunInfo
	Ctx      context.Context // cancelled on SIGINT or SIGTERM

	Sampler  *gpuenv.Sampler
	Redactor *artifacts.Redactor
	Stream   io.Writer // live output

	mu      sync.Mutex
	ran     map[string]string // section ID → result
	halt    string            // the first section that failed or was interrupted
	baseGit gitState
	// written holds, for each step whose command ran, the files it wrote in its output
	// directory and their stamps when it ended.
	written map[string]map[string]stamp
	// cudaSeen is set when an env.json of this run says torch saw CUDA.
	cudaSeen bool
}

// NewSuite prepares a run: the evidence directory's logs folder and run.json.
func NewSuite(ctx context.Context, s *Settings) (*Suite, error) {
	red := artifacts.NewRedactor(os.Environ())
	su := &Suite{Settings: s, Ctx: ctx, ran: map[string]string{}, Redactor: red,
		Stream: redactedLines{os.Stdout, red}, written: map[string]map[string]stamp{}}
	if err := os.MkdirAll(filepath.Join(s.Out, artifacts.LogsDir), 0o755); err != nil {
		return nil, fmt.Errorf("SMOKE_OUT=%s: %w", s.Out, err)
	}
	su.Info = artifacts.RunInfo{
		StartedUTC:   time.Now().UTC().Format(time.RFC3339),
		GPUMode:      s.GPU,
		Fixture:      s.Fixture,
		DifftrainDir: s.DifftrainDir,
		Workspace:    s.Workspace,
		Python:       s.Python,
		Out:          s.Out,
		Plan: artifacts.PlanInfo{Name: s.Plan.Name, Path: s.Plan.Path, SHA256: s.Plan.SHA256,
			Deviations: s.Plan.Deviations()},
		Guardrails:      []artifacts.Guardrail{},
		TempConfigs:     []string{},
		Untracked:       []string{},
		PythonPath:      s.PythonPath,
		Leftovers:       []artifacts.Leftover{},
		CheckedExisting: []string{},
	}
	su.baseGit = readGit(s.DifftrainDir)
	su.Info.Git = su.baseGit.info()
	su.guard("approved commands only: each command is the runbook's, or the plan gives a reason", true,
		fmt.Sprintf("plan %s, sha256 %.12s, %d deviation(s)", s.Plan.Path, s.Plan.SHA256, len(su.Info.Plan.Deviations)))
	return su, su.WriteInfo()
}

// WriteInfo writes run.json.
func (su *Suite) WriteInfo() error {
	su.mu.Lock()
	defer su.mu.Unlock()
	b, err := json.MarshalIndent(su.Info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run.json: %w", err)
	}
	p := filepath.Join(su.Settings.Out, artifacts.RunFile)
	if err := os.WriteFile(p, append(su.Redactor.Bytes(b), '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// redactedLines redacts secrets in the live stream, which the runner writes a whole line at a
// time; go test -json and so junit.xml carry it.
type redactedLines struct {
	w io.Writer
	r *artifacts.Redactor
}

func (l redactedLines) Write(p []byte) (int, error) {
	if _, err := l.w.Write(l.r.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Halted is the first section that failed, or "".
func (su *Suite) Halted() string {
	su.mu.Lock()
	defer su.mu.Unlock()
	return su.halt
}

// Section is one checklist section while it runs.
type Section struct {
	T     *testing.T
	Suite *Suite
	Step  runbook.Step
	notes []string
	files []string
	// reason is the one line that says why the section did not pass.
	reason string
	// interrupted marks a step stopped by Ctrl-C or SIGTERM.
	interrupted bool
	// retry marks a second call of a section that already ran, which is refused.
	retry bool
}

// Section runs body as the section named name, unless an earlier section failed, the section
// already ran in this process (the runbook forbids retries), or the plan skips it.
func (su *Suite) Section(t *testing.T, name string, body func(*Section)) {
	step, err := su.Settings.Plan.Step(name)
	if err != nil {
		t.Fatal(err)
	}
	sec := &Section{T: t, Suite: su, Step: step}
	attr(t, artifacts.PropSection, step.Section)
	attr(t, artifacts.PropName, step.Name)
	attr(t, artifacts.PropTitle, step.Title)
	attr(t, artifacts.PropExpected, step.Expected)
	if len(step.Command) > 0 {
		attr(t, artifacts.PropCommand, artifacts.Quote(step.Argv(su.Settings.Python)))
	}
	for _, d := range su.Info.Plan.Deviations {
		if d.Name == step.Name {
			attr(t, artifacts.PropDeviation, d.Reason)
		}
	}
	t.Cleanup(sec.finish)

	su.mu.Lock()
	prev, ran := su.ran[step.ID()]
	halt := su.halt
	if !ran {
		su.ran[step.ID()] = "running"
	}
	su.mu.Unlock()
	switch {
	case ran:
		sec.retry = true
		su.guard("no retry: a section runs once", true, step.ID()+" was not run again")
		sec.Skipf("already ran in this process (%s); the runbook forbids retries", prev)
	case halt != "":
		sec.Skipf("blocked by %s", halt)
	case su.Ctx.Err() != nil:
		sec.Skipf("blocked: the run was interrupted")
	case step.Skip:
		sec.Skipf("not in this plan: %s", step.Reason)
	}
	body(sec)
}

// finish records the section's result for the gate and the renderer.
func (c *Section) finish() {
	t, su := c.T, c.Suite
	result := artifacts.Pass
	switch {
	case c.interrupted:
		result = artifacts.Interrupted
	case t.Failed():
		result = artifacts.Fail
	case t.Skipped():
		result = artifacts.Skipped
	}
	su.mu.Lock()
	if !c.retry { // a refused retry keeps the first result
		su.ran[c.Step.ID()] = result
	}
	if (result == artifacts.Fail || result == artifacts.Interrupted) && su.halt == "" {
		su.halt = c.Step.ID()
	}
	su.mu.Unlock()
	attr(t, artifacts.PropResult, result)
	if c.reason != "" {
		attr(t, artifacts.PropReason, c.reason)
	} else if result == artifacts.Fail {
		attr(t, artifacts.PropReason, "failed (see the failure output)")
	}
	if len(c.notes) > 0 {
		attr(t, artifacts.PropNotes, strings.Join(c.notes, "; "))
	}
	if len(c.files) > 0 {
		attr(t, artifacts.PropArtifacts, strings.Join(c.files, "; "))
	}
}

// attr hands a fact to the checklist through JUnit properties. Values are one line.
func attr(t *testing.T, key, value string) {
	value = strings.Join(strings.Fields(strings.ToValidUTF8(value, "\uFFFD")), " ")
	t.Attr(key, value)
}

// Fatalf fails the section and halts the run. The first line of the message is the reason the
// checklist shows; the whole message is the failure text.
func (c *Section) Fatalf(format string, args ...any) {
	c.T.Helper()
	msg := fmt.Sprintf(format, args...)
	if c.reason == "" {
		c.reason, _, _ = strings.Cut(msg, "\n")
	}
	c.T.Fatal(msg)
}

// Skipf skips the section with a reason.
func (c *Section) Skipf(format string, args ...any) {
	c.T.Helper()
	c.reason = fmt.Sprintf(format, args...)
	c.T.Skip(c.reason)
}

// Notef adds a note to the checklist row and logs it.
func (c *Section) Notef(format string, args ...any) {
	c.T.Helper()
	n := fmt.Sprintf(format, args...)
	c.notes = append(c.notes, n)
	c.T.Log(n)
}

// Checked records evidence files (relative to SMOKE_OUT) that this section wrote or copied.
func (c *Section) Checked(paths ...string) { c.files = append(c.files, paths...) }

// Path resolves a runbook path such as ./difftrain/_tmp_run against the workspace.
func (c *Section) Path(p string) string { return c.Suite.Settings.path(p) }

// Out is a path inside the evidence directory.
func (c *Section) Out(rel string) string { return filepath.Join(c.Suite.Settings.Out, rel) }

// LogRel is this section's log, relative to SMOKE_OUT.
func (c *Section) LogRel() string {
	return filepath.Join(artifacts.LogsDir, c.Step.ID()+".log")
}

// stepEnv is the environment every command gets: the suite's own, plus unbuffered Python output
// (so logs stream live) and no bytecode caches (which would be untracked files in the checkout).
var stepEnv = []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}

// Environ is the environment of every command and of the Python probe: the suite's own, with
// PYTHONPATH as the settings make it, and stepEnv.
func (s *Settings) Environ() []string {
	env := os.Environ()
	if s.PythonPath != "" {
		env = append(env, "PYTHONPATH="+s.PythonPath)
	}
	return append(env, stepEnv...)
}

// Run runs the step's command and fails the section unless it exits 0 within its timeout,
// leaves the tracked files alone, logs no NaN or Inf loss, and sees no Xid error.
func (c *Section) Run() runner.Result {
	c.T.Helper()
	return c.RunArgv(c.Step.Argv(c.Suite.Settings.Python))
}

// RunArgv is Run with an explicit argv, for sections whose command is derived from the plan.
func (c *Section) RunArgv(argv []string) runner.Result {
	c.T.Helper()
	su, s := c.Suite, c.Suite.Settings
	logPath := c.Out(c.LogRel())
	env := s.Environ()
	outDir := ""
	if v, ok := artifacts.ParseCommand(argv).Flag("--output-dir"); ok {
		outDir = c.Path(v)
	}
	before, err := snapshot(outDir)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	c.T.Logf("%s: running %s (timeout %s, log %s)", c.Step.ID(), artifacts.Quote(argv), time.Duration(c.Step.Timeout), c.LogRel())
	if su.Sampler != nil {
		su.Sampler.Start(c.Step.ID())
	}
	res := runner.Run(su.Ctx, runner.Cmd{
		Argv: argv, Dir: s.Workspace, Env: env, Timeout: time.Duration(c.Step.Timeout),
		Log: logPath, Stream: su.Stream, Prefix: c.Step.ID(),
		Filter: su.Redactor.Writer,
	})
	var peaks gpuenv.Peaks
	if su.Sampler != nil {
		peaks = su.Sampler.Stop()
		c.peaks(peaks)
	}
	attr(c.T, artifacts.PropExitCode, strconv.Itoa(res.ExitCode))
	attr(c.T, artifacts.PropDuration, fmt.Sprintf("%.1f", res.Duration.Seconds()))
	attr(c.T, artifacts.PropLog, c.LogRel())
	c.T.Logf("%s: %s in %.1fs, exit code %d, %d bytes logged", c.Step.ID(), outcome(res), res.Duration.Seconds(), res.ExitCode, res.Bytes)
	if after, err := snapshot(outDir); err == nil {
		su.mu.Lock()
		su.written[c.Step.ID()] = writtenDuring(before, after)
		su.mu.Unlock()
	} else {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}

	if res.Err != nil {
		c.interrupted = res.Interrupted
		if err := artifacts.WriteRepro(c.Out(artifacts.ReproFile), s.Workspace, argv, su.Redactor.Environ(reproEnv(env))); err != nil {
			c.T.Logf("write repro.sh: %v", err)
		} else {
			c.Checked(artifacts.ReproFile)
		}
		tail, terr := runner.Tail(logPath, 40)
		if terr != nil {
			tail = terr.Error()
		}
		why := failureWhy(res, logPath)
		c.Fatalf("%s: %s\ncommand: %s\nlog: %s\n--- last 40 lines of %s ---\n%s",
			c.Step.ID(), why, artifacts.Quote(argv), logPath, c.LogRel(), tail)
	}
	if len(peaks.Xids) > 0 {
		c.Fatalf("%s: GPU Xid error %v during the step (see dmesg); log: %s", c.Step.ID(), peaks.Xids, logPath)
	}
	c.guardTracked()
	c.scanLog(logPath)
	return res
}

// failureWhy is the first line of a failed step's reason: how it ended, and the cause its log
// gives (pip's error, the root Python exception, a CUDA error), with a hint for SIGKILL.
func failureWhy(res runner.Result, logPath string) string {
	why := res.Err.Error()
	if res.ExitCode >= 0 {
		why = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	if res.Signal == syscall.SIGKILL {
		why += ", often the kernel's OOM killer when memory runs out (see dmesg)"
	}
	if cause, err := artifacts.FailureCause(logPath); err == nil && cause.String() != "" {
		why += ": " + cause.String()
	}
	return why
}

func outcome(r runner.Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return "exited 0"
}

// reproEnv is the environment repro.sh sets: what the suite added to its own environment, and
// the operator's settings that change what a step does, so the script also works from a fresh shell.
func reproEnv(env []string) []string {
	keep := []string{"PATH", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG", "HF_HOME",
		"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VIRTUAL_ENV"}
	out := artifacts.EnvDiff(os.Environ(), env)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FIXTURE_") || strings.HasPrefix(k, "PYTHON") && !strings.HasPrefix(k, "PYTHONSTARTUP") {
			out = append(out, kv)
			continue
		}
		for _, want := range keep {
			if k == want {
				out = append(out, kv)
			}
		}
	}
	return out
}

func (c *Section) peaks(p gpuenv.Peaks) {
	if p.Samples == 0 {
		return
	}
	attr(c.T, artifacts.PropPeakMemMiB, strconv.FormatUint(p.PeakMemMiB, 10))
	attr(c.T, artifacts.PropPeakUtilPct, strconv.FormatUint(uint64(p.PeakUtilPct), 10))
	attr(c.T, artifacts.PropMaxTempC, strconv.FormatUint(uint64(p.MaxTempC), 10))
	attr(c.T, artifacts.PropMaxPowerW, fmt.Sprintf("%.0f", p.MaxPowerW))
}

// scanLog fails the section on a NaN or Inf loss and counts warnings for the checklist.
func (c *Section) scanLog(logPath string) {
	c.T.Helper()
	scan, err := artifacts.ScanLog(logPath)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	attr(c.T, artifacts.PropWarnings, strconv.Itoa(scan.Warnings))
	if scan.Warnings > 0 {
		c.Notef("%d warning line(s), first: %s", scan.Warnings, first(scan.First["warning"]))
	}
	if scan.NaN+scan.Inf > 0 {
		c.Fatalf("%s: loss is NaN or Inf in %d line(s), first: %s; log: %s", c.Step.ID(), scan.NaN+scan.Inf,
			first(append(scan.First["nan"], scan.First["inf"]...)), logPath)
	}
}

func first(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}
