package smoke

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/runner"
	"github.com/difftrain/gpusmoke/view"
)

// suite is the run the sections share; TestMain sets it up.
var suite *Suite

// TestMain is the preflight fixture: it reads the settings, gathers the machine's facts once
// (section 00 reports them), runs the sections and writes run.json at the end.
func TestMain(m *testing.M) {
	if err := parseFlags(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(evidence.ExitUsage)
	}
	os.Exit(run(m))
}

// parseFlags parses go test's flags as flag.Parse does, but a bad one is one line that names
// it as the user typed it (-bogus, not -test.bogus), not go test's 70 lines of usage; -h and
// -help still print the usage.
func parseFlags(args []string) error {
	fs := flag.CommandLine
	fs.Init(os.Args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fs.PrintDefaults()
		os.Exit(evidence.ExitPass)
	}
	if err == nil {
		return nil
	}
	msg := strings.ReplaceAll(err.Error(), "-test.", "-")
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Errorf("%s: not a flag of go test (go help testflag lists them)", name)
	}
	return errors.New(msg)
}

func run(m *testing.M) int {
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		code := m.Run() // only listing the sections: no settings, no evidence
		listPlans(os.Stdout)
		return code
	}
	// A SMOKE_* or GPUSMOKE_* variable the harness does not know is a misspelt setting.
	if err := evidence.CheckVars(os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitUsage
	}
	// The runbook's order is the contract: -shuffle would run a section before its inputs exist.
	if f := flag.Lookup("test.shuffle"); f != nil && f.Value.String() != "off" {
		fmt.Fprintf(os.Stderr, "smoke: -shuffle=%s ignored: sections run in the runbook's order\n", f.Value)
		_ = f.Value.Set("off")
	}
	s, err := LoadSettings(os.Getenv, GPUTag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitUsage
	}
	warnTimeout(s)
	selected, err := selection(s.Plan)
	if err != nil {
		s.Discard()
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitUsage
	}
	leaveOut(s.Plan)
	var node *nodeRun
	if s.GPUs != "" {
		lib, _, err := s.nvml()
		if err == nil {
			node, err = newNode(s, lib)
		}
		if err != nil {
			s.Discard()
			fmt.Fprintln(os.Stderr, "smoke:", err)
			return evidence.ExitUsage
		}
	}
	if os.Getenv("SMOKE_CHECK_SETTINGS") == "1" {
		// run-smoke asks first, so that a bad setting is one line before gotestsum starts: the
		// settings, and the leftovers unless they are to be moved. It prints SMOKE_OUT.
		if s.Leftovers != LeftoversMove {
			if _, err := s.findLeftovers(selected, nil); err != nil {
				s.Discard()
				fmt.Fprintln(os.Stderr, "smoke:", err)
				return evidence.ExitUsage
			}
		}
		s.Discard()
		fmt.Println(s.Out)
		return evidence.ExitPass
	}
	// Before anything runs: the processes an earlier run left running (its suite killed with
	// kill -9, say: the steps' leaders died with it, their children did not), which may still
	// write into the output directories and hold the GPU. They are killed, and named below.
	red := redact.New(os.Environ())
	orphans, stuck := runner.SweepOrphans(runner.Grace, red.Writer)
	// Then an earlier run's files in an output directory this run writes.
	leftovers, err := s.findLeftovers(selected, red)
	if err != nil {
		s.Discard()
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitUsage
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// gotestsum stops reading when it cannot write go-test.json (a full disk): the suite's
	// writes to stdout then fail with EPIPE instead of killing it, so that it still ends the
	// running section, writes run.json and renders the documents.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	defer signal.Stop(sigs)
	var caught os.Signal
	go func() {
		if sig, ok := <-sigs; ok {
			caught = sig
			fmt.Fprintf(os.Stderr, "\nsmoke: %s: stopping the running step; later sections are blocked\n", sig)
			cancel()
		}
	}()

	su, err := NewSuite(ctx, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitEvidence
	}
	suite = su
	if su.node = node; node != nil {
		node.su = su
	}
	defer su.freeReserve()
	su.Info.Leftovers = append(su.Info.Leftovers, leftovers...)
	if len(leftovers) > 0 {
		if err := su.Ledger.RecordTree(evidence.LeftoversDir); err != nil {
			fmt.Fprintln(os.Stderr, "smoke:", err)
			return evidence.ExitEvidence
		}
	}
	for _, o := range orphans {
		line := su.shown(fmt.Sprintf("%s, left by step %s", o, o.StepID))
		su.Info.Orphans = append(su.Info.Orphans, line)
		fmt.Fprintf(os.Stderr, "smoke: killed %s, which an earlier run left running\n", line)
	}
	orphanDetail := "none found"
	if len(orphans) > 0 {
		orphanDetail = su.shown(fmt.Sprintf("%d killed before anything ran: %s", len(orphans), runner.Describe(orphans)))
	}
	if len(stuck) > 0 {
		orphanDetail += su.shown(fmt.Sprintf("; still alive after SIGKILL: %s", runner.Describe(stuck)))
	}
	su.guard("no process of an earlier run left running: each one found is killed before anything runs", len(stuck) == 0, orphanDetail)
	for _, l := range leftovers {
		fmt.Fprintf(os.Stderr, "smoke: SMOKE_LEFTOVERS=move: %d file(s) of an earlier run moved from %s to %s\n", l.Files, l.Dir, filepath.Join(s.Out, l.MovedTo))
	}
	banner(s)
	su.preflight()

	code := m.Run()
	if su.node != nil {
		su.node.end()
	}
	if h := su.Halted(); h != "" {
		su.guard("stop at the first failure: no section after "+h+" ran", true, "")
	}

	su.mu.Lock()
	su.Info.Compute = su.compute()
	su.Info.FinishedUTC = time.Now().UTC().Format(time.RFC3339)
	if caught != nil {
		su.Info.Interrupted = caught.String()
	}
	su.mu.Unlock()
	if su.Sampler != nil {
		if err := su.Sampler.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "smoke:", err)
		}
		sum, size := su.telemetry.Sum()
		su.Ledger.RecordHash(evidence.TelemetryFile, sum, size)
	}
	if err := su.seal(); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitEvidence
	}
	failed := caught != nil || code != evidence.ExitPass // an interrupted run never exits 0
	if os.Getenv(wrappedVar) != "" {
		// run-smoke renders the documents from gotestsum's junit.xml once the suite has ended.
		s.Release()
		if failed {
			return evidence.ExitFailed
		}
		return evidence.ExitPass
	}
	// A plain go test: the documents are rendered here, from run.json, once.
	res, err := checklist.RenderDir(s.Out, view.Options{
		Operator: os.Getenv("SMOKE_OPERATOR"), Location: os.Getenv("SMOKE_LOCATION")})
	s.Release()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		return evidence.ExitEvidence
	}
	tellUser(fmt.Sprintf("smoke: %s; evidence in %s\nsmoke: checklist %s\nsmoke: report %s\nsmoke: summary %s\n", res.Verdict, s.Out,
		filepath.Join(s.Out, evidence.ChecklistFile), filepath.Join(s.Out, evidence.ReportFile), filepath.Join(s.Out, evidence.SummaryFile)))
	if failed {
		return evidence.ExitFailed
	}
	return evidence.ExitCode(res.Verdict)
}

// leaveOut skips, through -skip, the tests of the built-in plans' sections that this plan does not
// have (each step's test is named from the plan: runbook.Step.Test), so that they do not show
// in go test's output or the JUnit; when the command line gave its own -skip, the sections'
// gate skips them instead (Suite.Section).
func leaveOut(p *runbook.Plan) {
	f := flag.Lookup("test.skip")
	if f == nil || f.Value.String() != "" {
		return
	}
	var out []string
	for _, test := range builtinTests() {
		if _, ok := stepOfTest(p, test); !ok {
			out = append(out, test)
		}
	}
	if len(out) > 0 {
		_ = f.Value.Set("^(" + strings.Join(out, "|") + ")$")
	}
}

// listPlans prints the built-in plans after go test -list's tests: SMOKE_PLAN picks one by name.
func listPlans(w io.Writer) {
	fmt.Fprintln(w, "built-in plans (SMOKE_PLAN=<name>; the default is the first):")
	for _, b := range runbook.Builtins {
		p, err := runbook.Named(b.Name)
		if err != nil {
			fmt.Fprintf(w, "  %-13s %v\n", b.Name, err)
			continue
		}
		var ids []string
		for _, st := range p.Steps {
			ids = append(ids, st.ID())
		}
		fmt.Fprintf(w, "  %-13s %s\n  %-13s sections: %s\n", b.Name, b.Follows, "", strings.Join(ids, ", "))
	}
}

// selection says which of the plan's steps go test's -run and -skip select, as go test matches
// a top-level test: the first element of each /-separated pattern.
func selection(p *runbook.Plan) (func(step string) bool, error) {
	pattern := func(name string) (*regexp.Regexp, error) {
		f := flag.Lookup(name)
		if f == nil || f.Value.String() == "" {
			return nil, nil
		}
		first, _, _ := strings.Cut(f.Value.String(), "/")
		re, err := regexp.Compile(first)
		if err != nil {
			return nil, fmt.Errorf("-%s: %w", strings.TrimPrefix(name, "test."), err)
		}
		return re, nil
	}
	run, err := pattern("test.run")
	if err != nil {
		return nil, err
	}
	skip, err := pattern("test.skip")
	if err != nil {
		return nil, err
	}
	return func(step string) bool {
		st, err := p.Step(step)
		name := st.Test()
		return err == nil && (run == nil || run.MatchString(name)) && (skip == nil || !skip.MatchString(name))
	}, nil
}

// compute says whether the run's training could use a GPU: NVML saw one and torch saw CUDA, at
// preflight or in an env.json of this run.
func (su *Suite) compute() *evidence.Compute {
	f := su.Facts
	t := f.Python.Torch
	switch {
	case len(f.NVML.GPUs) == 0:
		why := "NVML sees no GPU"
		if f.NVML.Error != "" {
			why += ": no NVIDIA driver or GPU (the Environment table says why)"
		}
		return &evidence.Compute{Why: why}
	case !t.CUDAAvailable && !su.cudaSeen:
		why := "torch sees no CUDA"
		if t.Version != "" {
			why = fmt.Sprintf("torch %s sees no CUDA", t.Version)
		}
		return &evidence.Compute{Why: fmt.Sprintf("%s, though NVML sees %d GPU(s)", why, len(f.NVML.GPUs))}
	}
	return &evidence.Compute{GPUUsed: true, Why: fmt.Sprintf("NVML sees %d GPU(s) (%s) and torch sees CUDA", len(f.NVML.GPUs), f.NVML.GPUs[0].Name)}
}

func banner(s *Settings) {
	checkout := s.DifftrainDir
	if s.Fixture {
		checkout += " (bundled fixture, not real difftrain)"
	}
	fmt.Fprintf(os.Stderr, "smoke: checkout %s\nsmoke: python %s\nsmoke: plan %s (sha256 %.12s)\nsmoke: evidence %s\n",
		checkout, s.Python, s.Plan.Path, s.Plan.SHA256, s.Out)
}

// warnTimeout says so when go test's -timeout is shorter than the plan's steps together: the go
// command kills the suite a minute after it, whatever the suite does, so steps are cut to end
// before it (Section.Run) and the evidence is kept. make smoke and run-smoke run the
// compiled suite with no timeout; a plain go test needs -timeout 0.
func warnTimeout(s *Settings) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	cur, err := time.ParseDuration(f.Value.String())
	if total := s.Plan.TotalTimeout(); err == nil && cur > 0 && cur < total {
		tellUser(fmt.Sprintf("smoke: go test's -timeout %s is shorter than the plan's steps (%s in all): steps are cut to end before it; run with -timeout 0, or make smoke\n", cur, total))
	}
}

// preflight gathers the machine's facts and writes them, with nvidia-smi's output, to SMOKE_OUT.
func (su *Suite) preflight() {
	s := su.Settings
	su.Facts = &gpuenv.Facts{}
	ctx, cancel := context.WithTimeout(su.Ctx, 2*time.Minute)
	defer cancel()
	lib, fake, err := s.nvml()
	if err != nil {
		su.FactsErr = err
		return
	}
	if fake != "" {
		fmt.Fprintf(os.Stderr, "smoke: NVML is a %s\n", fake)
	}
	facts, err := gpuenv.Collect(ctx, gpuenv.Options{Lib: lib, Python: s.Python, Dir: s.Workspace,
		Env: s.Environ(), Strict: s.GPU})
	su.FactsErr = err
	if facts != nil {
		su.Facts = facts
		if fake != "" {
			facts.Notes = append(facts.Notes, "NVML is a "+fake+", not this machine's GPU")
		}
		// Indented JSON with its strings redacted one by one: valid JSON, whatever the secrets are.
		p := filepath.Join(s.Out, evidence.GPUEnvFile)
		b, werr := su.Redactor.MarshalIndent(facts)
		if werr != nil {
			werr = fmt.Errorf("encode %s: %w", p, werr)
		} else if werr = evidence.WriteFileAtomic(p, b, 0o644); werr == nil {
			werr = su.Ledger.Record(p)
		}
		if werr != nil && su.FactsErr == nil {
			su.FactsErr = werr
		}
	}
	smi := filepath.Join(s.Out, evidence.NvidiaSMIFile)
	werr := os.WriteFile(smi, su.Redactor.Bytes([]byte(gpuenv.NvidiaSMI(ctx))), 0o644)
	if werr == nil {
		werr = su.Ledger.Record(smi)
	}
	if werr != nil && su.FactsErr == nil {
		su.FactsErr = fmt.Errorf("write %s: %w", evidence.NvidiaSMIFile, werr)
	}
	if facts != nil && facts.NVML.Available {
		p := filepath.Join(s.Out, evidence.TelemetryFile)
		f, err := os.Create(p)
		if err != nil {
			su.FactsErr = fmt.Errorf("create %s: %w", p, err)
			return
		}
		// Written while the steps run: hashed as written, so that a step that writes to it is caught.
		su.telemetry = evidence.NewHashWriter(f)
		su.Sampler = gpuenv.NewSampler(lib, s.SampleEvery, su.telemetry)
	}
}
