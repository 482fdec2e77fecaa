package smoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/evidence"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/internal/printable"
	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/runner"
)

// Suite is the state one run of the sections shares: settings, the machine's facts, and which
// sections have run. Sections hand their outputs on through files in the workspace, never
// through this struct, so that one section can run alone with -run.
type Suite struct {
	Settings *Settings
	Facts    *gpuenv.Facts
	FactsErr error           // a preflight failure, reported by section 00
	Ctx      context.Context // cancelled on SIGINT or SIGTERM

	Sampler  *gpuenv.Sampler
	Redactor *redact.Redactor
	Stream   io.Writer // live output
	// Ledger holds what the suite wrote into SMOKE_OUT, as it wrote it: the run is sealed from it.
	Ledger *evidence.Ledger
	// telemetry hashes what the sampler writes to telemetry.csv while the steps run.
	telemetry *evidence.HashWriter

	mu sync.Mutex
	// Info is run.json: the plan as it runs, each section's result and the guardrails. It is
	// written after every section.
	Info    evidence.Run
	ran     map[string]string // section ID → result
	halt    string            // the first section that failed or was interrupted
	baseGit gitState
	// written holds, for each step whose command ran, the files it wrote in its output
	// directory and their stamps when it ended.
	written map[string]map[string]stamp
	// cudaSeen is set when an env.json of this run says torch saw CUDA.
	cudaSeen bool
	// baseFiles are the checkout's files before the run, when it is not a git repository.
	baseFiles map[string]stamp
	// node is set in a node run's own suite (SMOKE_GPUS): the GPUs and their runs.
	node *nodeRun
	// reserve is space set aside in SMOKE_OUT, freed when the disk fills so that run.json and
	// the documents can still be written ("" once freed).
	reserve string
}

// reserveBytes is the space the suite sets aside in SMOKE_OUT at the start: enough for run.json,
// the documents and gotestsum's JUnit after the disk has filled.
const reserveBytes = 1 << 20

// keepReserve sets reserveBytes aside in SMOKE_OUT, as much of it as fits.
func (su *Suite) keepReserve() {
	p := filepath.Join(su.Settings.Out, evidence.ReserveFile)
	f, err := os.Create(p)
	if err != nil {
		return
	}
	defer f.Close()
	for left := reserveBytes; left > 0; left -= 64 << 10 {
		if _, err := f.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	su.reserve = p
}

// noSpace says whether err is the disk of SMOKE_OUT filling up; if so it frees the reserve, so
// that the run can still stop cleanly, and returns the reason that names the file.
func (su *Suite) noSpace(err error, path string) (string, bool) {
	if !errors.Is(err, syscall.ENOSPC) {
		return "", false
	}
	su.freeReserve()
	return fmt.Sprintf("SMOKE_OUT: no space left on device (%s)", path), true
}

// freeReserve gives the reserve back: when the disk fills, and at the seal, so that gotestsum's
// junit.xml and the documents rendered from it have the space. (The renderer removes the
// reserve of a suite that was killed before its seal: checklist.RenderDir.)
func (su *Suite) freeReserve() {
	su.mu.Lock()
	defer su.mu.Unlock()
	if su.reserve != "" {
		os.Remove(su.reserve)
		su.reserve = ""
	}
}

// NewSuite prepares a run: the evidence directory's logs folder and run.json, with every
// section of the plan NOT RUN yet.
func NewSuite(ctx context.Context, s *Settings) (*Suite, error) {
	red := redact.New(os.Environ())
	su := &Suite{Settings: s, Ctx: ctx, ran: map[string]string{}, Redactor: red, Ledger: evidence.NewLedger(s.Out),
		Stream: redactedLines{os.Stdout, red}, written: map[string]map[string]stamp{}}
	if err := os.MkdirAll(filepath.Join(s.Out, evidence.LogsDir), 0o755); err != nil {
		return nil, fmt.Errorf("SMOKE_OUT=%s: %w", s.Out, err)
	}
	su.Info = evidence.Run{
		SchemaVersion: evidence.SchemaVersion,
		Harness:       evidence.HarnessInfo(),
		StartedUTC:    time.Now().UTC().Format(time.RFC3339),
		GPUMode:       s.GPU,
		Fixture:       s.Fixture,
		DifftrainDir:  s.DifftrainDir,
		Workspace:     s.Workspace,
		Python:        s.Python,
		PythonPath:    s.PythonPath,
		Out:           s.Out,
		Plan: evidence.PlanInfo{Name: s.Plan.Name, Path: s.Plan.Path, SHA256: s.Plan.SHA256,
			Deviations: s.Plan.Deviations()},
		Guardrails:      []evidence.Guardrail{},
		TempConfigs:     []string{},
		Untracked:       []string{},
		Leftovers:       []evidence.Leftover{},
		CheckedExisting: []string{},
		Env:             map[string]string{},
	}
	for _, st := range s.Plan.Steps {
		sec := evidence.Section{Section: st.Section, Name: st.Name, Title: st.Title, Expected: st.Expected,
			Optional: st.Optional, Result: evidence.NotRun}
		if len(st.Command) > 0 {
			sec.Command = evidence.Quote(st.Argv(s.Python))
		}
		for _, d := range su.Info.Plan.Deviations {
			if d.Name == st.Name {
				sec.Deviation = d.Reason
			}
		}
		su.Info.Sections = append(su.Info.Sections, sec)
	}
	for _, k := range evidence.ReportedEnv {
		if v, ok := os.LookupEnv(k); ok {
			su.Info.Env[k] = v
		}
	}
	su.baseGit = readGit(s.DifftrainDir)
	su.Info.Git = su.baseGit.info()
	if su.baseGit.err != nil {
		files, err := su.fileStamps()
		if err != nil {
			return nil, fmt.Errorf("DIFFTRAIN_DIR=%s: %w", s.DifftrainDir, err)
		}
		su.baseFiles = files
		su.guard("no git repository: every file of the checkout is compared before and after each step", true,
			fmt.Sprintf("%d files; %v", len(files), su.baseGit.err))
	}
	su.keepReserve()
	su.guard("approved commands only: each command is the runbook's, or the plan gives a reason", true,
		fmt.Sprintf("plan %s, sha256 %.12s, %d deviation(s)", s.Plan.Path, s.Plan.SHA256, len(su.Info.Plan.Deviations)))
	return su, su.WriteInfo()
}

// WriteInfo writes run.json, redacted, and records it in the ledger.
func (su *Suite) WriteInfo() error {
	su.mu.Lock()
	defer su.mu.Unlock()
	if err := evidence.WriteRun(su.Settings.Out, &su.Info, su.Redactor); err != nil {
		return err
	}
	return su.Ledger.Record(evidence.RunFile)
}

// seal ends the run's evidence: a guardrail says whether SMOKE_OUT holds exactly what the suite
// wrote (the files a step planted, changed or removed, named), run.json is written a last time,
// and the directory is sealed from the ledger. gotestsum's junit.xml and go-test.json, still
// being written, are left to the renderer. Nothing of the suite writes evidence after it.
func (su *Suite) seal() error {
	others := []string{evidence.JUnitFile, evidence.JSONFile}
	found, err := su.Ledger.Check(others...)
	if err != nil {
		return err
	}
	detail := "every file in SMOKE_OUT is as the harness wrote it"
	if !found.OK() {
		detail = found.String()
	}
	su.guard("evidence written by the harness only: no step planted, changed or removed a file in SMOKE_OUT", found.OK(), detail)
	if err := su.WriteInfo(); err != nil {
		return err
	}
	_, err = su.Ledger.Seal(others...)
	su.freeReserve() // before the lock is given up: the renderer then finds the space, and no reserve
	return err
}

// redactedLines redacts secrets in the live stream, which the runner writes a whole line at a
// time; go test -json and so junit.xml carry it.
type redactedLines struct {
	w io.Writer
	r *redact.Redactor
}

func (l redactedLines) Write(p []byte) (int, error) {
	if _, err := l.w.Write(l.r.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// result is the section's result in this process so far: "" before it ran, "running" while it runs.
func (su *Suite) result(id string) string {
	su.mu.Lock()
	defer su.mu.Unlock()
	return su.ran[id]
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
	// rec is what the section found, for run.json and the JUnit properties.
	rec evidence.Section
	// interrupted marks a step stopped by Ctrl-C or SIGTERM.
	interrupted bool
	// notApplicable marks a skip that is NA (NotApplicable).
	notApplicable bool
	// retry marks a second call of a section that already ran, which is refused.
	retry bool
	// gpus marks a section of a node run's suite whose result is its GPUs' (perGPU): it fails
	// when a GPU's run failed it, and never halts the node.
	gpus bool
	// argv is the command the section ran, if any: a section that fails after it ran, for
	// whatever reason, leaves repro.sh for it.
	argv []string
}

// Section runs body as the plan's section whose test t is (runbook.Step.Test), unless an
// earlier section failed, the section already ran in this process (the runbook forbids
// retries), or the plan skips it.
func (su *Suite) Section(t *testing.T, body func(*Section)) {
	step, ok := stepOfTest(su.Settings.Plan, t.Name())
	if !ok {
		// A section of another built-in plan (TestMain leaves these out with -skip, unless the
		// command line gave its own -skip): it has no row in this run.
		t.Skipf("not a section of plan %s", su.Settings.Plan.Path)
	}
	sec := &Section{T: t, Suite: su, Step: step, rec: su.planned(step.ID())}
	sec.rec.Test = t.Name()
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
		sec.NotApplicable("not in this plan: %s", step.Reason)
	}
	here, perGPU := su.nodeRuns(step)
	if here {
		body(sec)
	}
	if perGPU {
		sec.perGPU()
	}
}

// stepOfTest is the plan's step that the Go test of that name runs.
func stepOfTest(p *runbook.Plan, test string) (runbook.Step, bool) {
	for _, st := range p.Steps {
		if st.Test() == test {
			return st, true
		}
	}
	return runbook.Step{}, false
}

// builtinTests are the tests of the built-in plans' sections, in no particular order.
func builtinTests() []string {
	var tests []string
	for _, b := range runbook.Builtins {
		p, err := runbook.Named(b.Name)
		if err != nil {
			continue // a build defect, caught by runbook's tests
		}
		for _, st := range p.Steps {
			if !slices.Contains(tests, st.Test()) {
				tests = append(tests, st.Test())
			}
		}
	}
	return tests
}

// planned is the section's record in run.json as the plan describes it, with no result yet.
func (su *Suite) planned(id string) evidence.Section {
	su.mu.Lock()
	defer su.mu.Unlock()
	for _, s := range su.Info.Sections {
		if s.ID() == id {
			return evidence.Section{Section: s.Section, Name: s.Name, Title: s.Title, Expected: s.Expected,
				Optional: s.Optional, Command: s.Command, Deviation: s.Deviation}
		}
	}
	return evidence.Section{}
}

// finish records the section's result for the gate, run.json and the renderer (through JUnit
// properties); it runs last among the test's cleanups, so it sees every failure.
func (c *Section) finish() {
	t, su, r := c.T, c.Suite, &c.rec
	r.Result = evidence.Pass
	switch {
	case c.interrupted:
		r.Result = evidence.Interrupted
	case t.Failed():
		r.Result = evidence.Fail
	case t.Skipped() && c.notApplicable:
		r.Result = evidence.NA
	case t.Skipped():
		r.Result = evidence.Skipped
	}
	if r.Reason == "" && r.Result == evidence.Fail {
		r.Reason = "failed (see the failure output)"
	}
	if (r.Result == evidence.Fail || r.Result == evidence.Interrupted) && c.argv != nil && !c.retry {
		c.writeRepro(c.argv)
	}
	su.mu.Lock()
	if !c.retry { // a refused retry keeps the first result
		su.ran[c.Step.ID()] = r.Result
		for i := range su.Info.Sections {
			if su.Info.Sections[i].ID() == c.Step.ID() {
				su.Info.Sections[i] = *r
			}
		}
	}
	if (r.Result == evidence.Fail || r.Result == evidence.Interrupted) && su.halt == "" && !c.gpus {
		su.halt = c.Step.ID()
	}
	su.mu.Unlock()
	if !c.retry {
		if err := su.WriteInfo(); err != nil {
			if why, full := su.noSpace(err, filepath.Join(su.Settings.Out, evidence.RunFile)); full {
				err = su.WriteInfo() // into the freed reserve
				if err != nil {
					err = fmt.Errorf("%s: %w", why, err)
				}
			}
			if err != nil {
				t.Errorf("%s: %v", c.Step.ID(), err)
			}
		}
	}
	for _, p := range r.Properties() {
		c.attr(p[0], p[1])
	}
}

// attr hands a fact to the checklist through JUnit properties: one line, redacted.
func (c *Section) attr(key, value string) { c.T.Attr(key, c.Suite.propValue(value)) }

// propValue is value as a JUnit property holds it: one line, shown.
func (su *Suite) propValue(value string) string {
	return su.shown(strings.Join(strings.Fields(value), " "))
}

// shown is text as the suite lets it leave the process (go test's output, run.json, JUnit):
// secrets redacted, then every control character made visible, so that no text that came from a
// step can frame a line for test2json or drive a terminal.
func (su *Suite) shown(s string) string { return printable.String(su.Redactor.String(s)) }

// Fatalf fails the section and halts the run. The first line of the message is the reason the
// checklist shows; the whole message is the failure text. Secrets are redacted from both.
func (c *Section) Fatalf(format string, args ...any) {
	c.T.Helper()
	msg := c.Suite.shown(fmt.Sprintf(format, args...))
	if c.rec.Reason == "" {
		c.rec.Reason, _, _ = strings.Cut(msg, "\n")
	}
	c.T.Fatal(msg)
}

// NotApplicable skips the section as NA: it does not apply to this run (the approved plan skips
// it, or it needs a GPU and torch sees no CUDA), so it counts for nothing in the verdict.
func (c *Section) NotApplicable(format string, args ...any) {
	c.T.Helper()
	c.notApplicable = true
	c.Skipf(format, args...)
}

// Qualify says what qualifies the section's PASS, shown in its result cell ("no NVIDIA GPU
// found"). Call it last: a failure's reason is the first one given.
func (c *Section) Qualify(format string, args ...any) {
	c.rec.Reason = c.Suite.shown(fmt.Sprintf(format, args...))
}

// Skipf skips the section with a reason.
func (c *Section) Skipf(format string, args ...any) {
	c.T.Helper()
	c.rec.Reason = c.Suite.shown(fmt.Sprintf(format, args...))
	c.T.Skip(c.rec.Reason)
}

// Notef adds a note to the checklist row and logs it.
func (c *Section) Notef(format string, args ...any) {
	c.T.Helper()
	n := c.Suite.shown(fmt.Sprintf(format, args...))
	c.rec.Notes = append(c.rec.Notes, n)
	c.T.Log(n)
}

// Logf logs a line of the section's progress, redacted.
func (c *Section) Logf(format string, args ...any) {
	c.T.Helper()
	c.T.Log(c.Suite.shown(fmt.Sprintf(format, args...)))
}

// Checked records evidence files (relative to SMOKE_OUT) that this section wrote or copied.
func (c *Section) Checked(paths ...string) { c.rec.Artifacts = append(c.rec.Artifacts, paths...) }

// Path resolves a runbook path such as ./difftrain/_tmp_run against the workspace.
func (c *Section) Path(p string) string { return c.Suite.Settings.path(p) }

// Out is a path inside the evidence directory.
func (c *Section) Out(rel string) string { return filepath.Join(c.Suite.Settings.Out, rel) }

// LogRel is this section's log, relative to SMOKE_OUT.
func (c *Section) LogRel() string { return evidence.LogRel(c.Step.ID()) }

// stepEnv is the environment every command gets: the suite's own, plus unbuffered Python output
// (so logs stream live) and no bytecode caches (which would be untracked files in the checkout).
var stepEnv = []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}

// Environ is the environment of every command and of the Python probe: the suite's own without
// the harness's settings (a step has no business with SMOKE_OUT), with PYTHONPATH as the
// settings make it, and stepEnv.
func (s *Settings) Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !evidence.HarnessVar(name) {
			env = append(env, kv)
		}
	}
	if s.PythonPath != "" {
		env = append(env, "PYTHONPATH="+s.PythonPath)
	}
	return append(env, stepEnv...)
}

// Run runs the step's command and fails the section unless it exits 0 within its timeout,
// leaves the tracked files alone, logs no NaN or Inf loss, and sees no Xid error.
func (c *Section) Run() runner.Result {
	c.T.Helper()
	return c.runArgv(c.Step.Argv(c.Suite.Settings.Python), nil)
}

// runArgv is Run with an explicit argv, but a command that exits by itself with one of the codes in ok (and
// leaves no process behind) is not failed here: the section judges it (a pytest lane's
// "tests failed" and "no tests collected").
func (c *Section) runArgv(argv []string, ok []int) runner.Result {
	c.T.Helper()
	su, s := c.Suite, c.Suite.Settings
	logPath := c.Out(c.LogRel())
	env := s.Environ()
	c.argv = argv
	// What the command writes: a script's --output-dir, or pytest's --basetemp.
	outDir := ""
	for _, flag := range []string{"--output-dir", "--basetemp"} {
		if v, ok := artifacts.ParseCommand(argv).Flag(flag); ok && outDir == "" {
			outDir = c.Path(v)
		}
	}
	before, err := snapshot(outDir, nil)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	timeout, cut := c.stepTimeout()
	limit := timeout.String()
	if cut {
		limit = fmt.Sprintf("%s: the plan's %s, cut to end before go test's -timeout", timeout, time.Duration(c.Step.Timeout))
	}
	c.Logf("%s: running %s (timeout %s, log %s)", c.Step.ID(), evidence.Quote(argv), limit, c.LogRel())
	if su.Sampler != nil {
		su.Sampler.Start(c.Step.ID())
	}
	// The step's processes carry StepID in their environment, so that those that leave its
	// process group are found and killed when it ends, and those a dead run left, by the next
	// run (TestMain). repro.sh gets env without it.
	res := runner.Run(su.Ctx, runner.Cmd{
		Argv: argv, Dir: s.Workspace, Env: env, Timeout: timeout,
		Log: logPath, Stream: su.Stream, Prefix: c.Step.ID(),
		Filter: su.Redactor.Writer, Redact: su.Redactor.Lines(), StepID: runID + "/" + c.Step.ID(),
	})
	var peaks gpuenv.Peaks
	if su.Sampler != nil {
		peaks = su.Sampler.Stop()
		c.peaks(peaks)
	}
	if res.LogSHA256 != "" {
		su.Ledger.RecordHash(logPath, res.LogSHA256, res.LogSize)
	}
	code := res.ExitCode
	c.rec.Command, c.rec.ExitCode, c.rec.Log = evidence.Quote(argv), &code, c.LogRel()
	c.rec.Duration = fmt.Sprintf("%.1f", res.Duration.Seconds())
	c.Logf("%s: %s in %.1fs, exit code %d, %d bytes logged", c.Step.ID(), outcome(res), res.Duration.Seconds(), res.ExitCode, res.Bytes)
	if after, err := snapshot(outDir, nil); err == nil {
		su.mu.Lock()
		su.written[c.Step.ID()] = writtenDuring(before, after)
		su.mu.Unlock()
	} else {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}

	if res.LogErr != nil {
		if why, full := su.noSpace(res.LogErr, logPath); full {
			c.Fatalf("%s: %s", c.Step.ID(), why)
		}
	}
	judged := res.Ended != nil && res.ExitCode > 0 && slices.Contains(ok, res.ExitCode) && len(res.Escaped) == 0 && res.HeldOpen == "" && res.LogErr == nil
	if res.Err != nil && !judged {
		c.interrupted = res.Interrupted
		tail, terr := evidence.Tail(logPath, evidence.TailLines)
		if terr != nil {
			tail = terr.Error()
		}
		why := failureWhy(res, logPath)
		if cut && res.TimedOut {
			why += fmt.Sprintf(" (the plan allows %s; cut to end before go test's -timeout)", time.Duration(c.Step.Timeout))
		}
		c.Fatalf("%s: %s\ncommand: %s\nlog: %s\n--- last %d lines of %s ---\n%s",
			c.Step.ID(), why, evidence.Quote(argv), logPath, evidence.TailLines, c.LogRel(), tail)
	}
	if xids := c.Suite.xidsOfTheRun(c.Step.ID(), peaks.XidEvents); len(xids) > 0 {
		c.Fatalf("%s: GPU Xid error %v during the step (see dmesg); log: %s", c.Step.ID(), xids, logPath)
	}
	c.guardTracked()
	c.scanLog(logPath)
	return res
}

// writeRepro writes repro.sh and repro.env, which run argv again as this step ran it. It runs
// when the section has failed (finish): an error is a note of the section.
func (c *Section) writeRepro(argv []string) {
	s := c.Suite.Settings
	red := c.Suite.Redactor
	args := make([]string, len(argv)) // the script is evidence too
	for i, a := range argv {
		args[i] = red.String(a)
	}
	if err := evidence.WriteRepro(c.Out(evidence.ReproFile), s.Workspace, args, red.Environ(s.Environ())); err != nil {
		c.Notef("repro.sh not written: %v", err)
	} else if err := c.Suite.Ledger.Record(evidence.ReproFile, evidence.ReproEnvFile); err != nil {
		c.Notef("repro.sh not recorded: %v", err)
	} else {
		c.Checked(evidence.ReproFile)
	}
}

// failureWhy is the first line of a failed step's reason: how it ended, and the cause its log
// gives (pip's error, the root Python exception, a CUDA error), with a hint for SIGKILL; then
// the processes that outlived it outside its process group, each named.
func failureWhy(res runner.Result, logPath string) string {
	why := "exited 0"
	if res.Ended != nil {
		why = res.Ended.Error()
	}
	if res.ExitCode > 0 {
		why = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	if res.Signal == syscall.SIGKILL {
		why += ", often the kernel's OOM killer when memory runs out (see dmesg)"
	}
	if res.Ended != nil {
		if cause, err := artifacts.FailureCause(logPath); err == nil && cause.String() != "" {
			why += ": " + cause.String()
		}
	}
	if len(res.Escaped) > 0 {
		why += "; " + runner.EscapedReason(res.Escaped)
	}
	if res.HeldOpen != "" {
		why += "; " + res.HeldOpen
	}
	return why
}

// runID marks this run's steps: each step's processes carry runner.MarkerVar=<runID>/<section>.
var runID = runner.NewRunID()

// evidenceMargin is what a step leaves of go test's -timeout for its section to end and write
// the evidence: the stop (SIGTERM, SIGKILL after runner.Grace), the sweep of escaped processes,
// the output's drain, then repro.sh, the log's tail and run.json.
const evidenceMargin = 15 * time.Second

// stepTimeout is the plan's timeout for the step, or less when the test's deadline (go test's
// -timeout, which kills the whole binary) would come first: then the step ends evidenceMargin
// before it (half the time left, when that is short), and cut is true.
func (c *Section) stepTimeout() (timeout time.Duration, cut bool) {
	timeout = time.Duration(c.Step.Timeout)
	deadline, ok := c.T.Deadline()
	if !ok {
		return timeout, false
	}
	left := time.Until(deadline)
	margin := evidenceMargin
	if left < 2*margin {
		margin = left / 2
	}
	if avail := (left - margin).Truncate(100 * time.Millisecond); avail < timeout {
		return max(avail, 100*time.Millisecond), true
	}
	return timeout, false
}

func outcome(r runner.Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return "exited 0"
}

func (c *Section) peaks(p gpuenv.Peaks) {
	if p.Samples == 0 {
		return
	}
	c.rec.Peaks = &evidence.Peaks{MemMiB: strconv.FormatUint(p.PeakMemMiB, 10),
		UtilPct: strconv.FormatUint(uint64(p.PeakUtilPct), 10), TempC: strconv.FormatUint(uint64(p.MaxTempC), 10),
		PowerW: fmt.Sprintf("%.0f", p.MaxPowerW)}
	for _, l := range p.AtLoad {
		c.rec.Peaks.AtLoad = append(c.rec.Peaks.AtLoad, l.String())
	}
	// A PCIe link below its maximum under load is a health finding, once per GPU and run.
	for _, g := range c.Suite.Facts.NVML.GPUs {
		if f, ok := gpuenv.LinkAtLoad(g, p); ok {
			c.Suite.mu.Lock()
			seen := slices.Contains(c.Suite.Info.Health, f.Message)
			if !seen {
				c.Suite.Info.Health = append(c.Suite.Info.Health, f.Message)
			}
			c.Suite.mu.Unlock()
			if !seen {
				c.Notef("health: %s", f.Message)
			}
		}
	}
}

// scanLog fails the section on a NaN or Inf loss and counts warnings for the checklist.
func (c *Section) scanLog(logPath string) {
	c.T.Helper()
	scan, err := artifacts.ScanLog(logPath)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	c.rec.Warnings, c.rec.NaN = scan.Warnings, scan.NaN+scan.Inf
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
