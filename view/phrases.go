package view

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
)

// The phrases every document shares, each computed here once: the verdict and its counts, what
// ran, the banners, the git state, the machine, the interpreter, the deviations, the failures,
// the warnings and NaN counts. They are plain text unless their name says markdown.

// Verdict sums the run up (evidence.Judge): a failed TestMain, a failed test that is no section,
// a violated guardrail and, in a node run, a finding that fails the node fail it too (a node's
// sections are the worst of its GPUs').
func (e *Evidence) Verdict() string {
	results := make([]string, len(e.Sections))
	for i, s := range e.Sections {
		results[i] = s.Result
	}
	nodeFailed := e.Node != nil && e.Node.Failed()
	return evidence.Judge(results, e.TestMain != "" || len(e.Others) > 0 || len(e.Violated()) > 0 || nodeFailed, e.Run.Interrupted != "")
}

// Violated are the guardrails the run violated.
func (e *Evidence) Violated() []evidence.Guardrail {
	var out []evidence.Guardrail
	for _, g := range e.Run.Guardrails {
		if !g.OK {
			out = append(out, g)
		}
	}
	return out
}

// Counts is "5 PASS, 1 FAIL, 3 NA of 9 sections" over the sections, and the guardrails violated.
func (e *Evidence) Counts() string {
	n := map[string]int{}
	for _, s := range e.Sections {
		n[s.Result]++
	}
	var parts []string
	for _, w := range evidence.Results {
		if n[w] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[w], w))
		}
	}
	s := strings.Join(parts, ", ") + fmt.Sprintf(" of %d sections", len(e.Sections))
	if v := len(e.Violated()); v > 0 {
		s += "; " + Plural(v, "guardrail") + " violated"
	}
	return s
}

// Target is what the run ran against, as summary.json and the fleet report record it.
func (e *Evidence) Target() string {
	switch {
	case e.Run.Fixture:
		return evidence.TargetFixture
	case e.Env != nil && slices.ContainsFunc(mapValues(e.Env.Python.Packages), func(v string) bool { return strings.HasSuffix(v, evidence.StandinSuffix) }):
		return evidence.TargetStandins
	}
	return evidence.TargetDifftrain
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// notReal says, after the verdict, when the run did not check the real difftrain as it ships.
func (e *Evidence) notReal() string {
	switch e.Target() {
	case evidence.TargetFixture:
		return "fixture run, not real difftrain"
	case evidence.TargetStandins:
		return "difftrain with stand-in model packages (conformance), not as it ships"
	}
	return ""
}

// VerdictText is the verdict in plain words, for places that take no markup.
func (e *Evidence) VerdictText() string {
	s := fmt.Sprintf("%s (%s)", e.Verdict(), e.Counts())
	if n := e.notReal(); n != "" {
		s += ", " + n
	}
	return s
}

// VerdictLine is the verdict as every document states it, in markdown.
func (e *Evidence) VerdictLine() string {
	s := fmt.Sprintf("**%s** (%s)", e.Verdict(), Text(e.Counts()))
	if n := e.notReal(); n != "" {
		s += " — " + Text(n)
	}
	return s
}

// CPUOnly is the markdown line the documents open with when no GPU was used, else "".
func (e *Evidence) CPUOnly() string {
	c := e.Run.Compute
	if c == nil || c.GPUUsed {
		return ""
	}
	return fmt.Sprintf("**%s** (%s).\n\n", evidence.CPUOnlyBanner, Text(c.Why))
}

// Banners are the warnings that must be read before anything else, in markdown.
func (e *Evidence) Banners() string {
	var b strings.Builder
	switch e.Target() {
	case evidence.TargetFixture:
		fmt.Fprintf(&b, "> **FIXTURE RUN:** the bundled stand-in for difftrain ran (%s), not a real checkout. These results check the harness, not difftrain.\n\n",
			Text(OrDash(e.Run.DifftrainDir)))
	case evidence.TargetStandins:
		fmt.Fprintf(&b, "> **CONFORMANCE RUN:** difftrain ran with stand-in model packages (%s): its own code ran, but not the model libraries it ships with.\n\n",
			Text(OrDash(e.Run.DifftrainDir)))
	}
	if e.Run.Interrupted != "" {
		fmt.Fprintf(&b, "> **INTERRUPTED:** the run was stopped by %s; the sections after the interrupted one did not run.\n\n", Text(e.Run.Interrupted))
	}
	if e.TestMain != "" {
		fmt.Fprintf(&b, "> **SUITE FAILED:** TestMain failed: %s\n\n", Text(lastMessage(e.TestMain)))
	}
	if len(e.Run.CheckedExisting) > 0 {
		fmt.Fprintf(&b, "> **CHECKED EXISTING FILES:** %s checked files already in the checkout, not written by this run.\n\n",
			Text(strings.Join(e.Run.CheckedExisting, ", ")))
	}
	return b.String()
}

// OutPath is rel (relative to SMOKE_OUT) as an absolute-looking path under Out.
func (e *Evidence) OutPath(rel string) string {
	if rel == "" {
		return e.Out
	}
	return strings.TrimSuffix(e.Out, "/") + "/" + strings.TrimPrefix(rel, "/")
}

// GitState is the difftrain checkout's state before the run: "abc123… (main), clean".
func (e *Evidence) GitState() string {
	g := e.Run.Git
	switch {
	case g.Error != "":
		return "unknown: " + g.Error
	case !g.IsRepo:
		return "not a git repository"
	}
	state := "clean"
	if !g.Clean {
		state = "dirty"
	}
	return strings.TrimSpace(g.Commit+" "+Paren(g.Branch)) + ", " + state
}

// Host is the machine in a few words: "gpu-node-3 (Amazon EC2 g5.xlarge)".
func (e *Evidence) Host() string {
	if e.Env == nil {
		return NotRecorded
	}
	h := e.Env.Host
	return OrDash(strings.TrimSpace(h.Hostname + " " + Paren(strings.TrimSpace(h.SysVendor+" "+h.ProductName))))
}

// Instance is the machine in one line: GPU, driver, CUDA, host, instance type, OS.
func (e *Evidence) Instance() string {
	parts := []string{e.GPUShort()}
	if f := e.Env; f != nil {
		for _, p := range [][2]string{{"driver ", f.NVML.DriverVersion}, {"CUDA ", f.NVML.CUDADriverVersion}, {"host ", e.Host()}, {"", f.Host.OS}} {
			if p[1] != "" && p[1] != "—" {
				parts = append(parts, p[0]+p[1])
			}
		}
	}
	return strings.Join(parts, " · ")
}

// Interpreter is the interpreter that ran, in markdown: "`python` (Python 3.11.9, torch 2.4.0) → `/usr/bin/python3.11`".
func (e *Evidence) Interpreter() string {
	s := OrDash(Code(e.Run.Python))
	if f := e.Env; f != nil {
		var v []string
		if f.Python.Version != "" {
			v = append(v, "Python "+f.Python.Version)
		}
		if f.Python.Torch.Version != "" {
			v = append(v, "torch "+f.Python.Torch.Version)
		}
		if len(v) > 0 {
			s += " (" + Text(strings.Join(v, ", ")) + ")"
		}
		if f.Python.Executable != "" && f.Python.Executable != e.Run.Python {
			s += " → " + Code(f.Python.Executable)
		}
	}
	return s
}

// Deviations are the steps whose command differs from the runbook: the plan's list, then any a
// section recorded that the plan does not name.
func (e *Evidence) Deviations() []evidence.Deviation {
	out := slices.Clone(e.Run.Plan.Deviations)
	for _, s := range e.Sections {
		if s.Deviation != "" && !slices.ContainsFunc(out, func(d evidence.Deviation) bool { return d.Section == s.Section }) {
			out = append(out, evidence.Deviation{Section: s.Section, Name: s.Name, Command: s.Command, Reason: s.Deviation})
		}
	}
	return out
}

// DeviationID is a deviation's section as the documents name it: "01-install".
func DeviationID(d evidence.Deviation) string {
	if d.Name == "" {
		return d.Section
	}
	return d.Section + "-" + d.Name
}

// Failure is one thing that failed in the run: a section, a pytest case of a section, a test
// that is no section, the suite around its tests, or a guardrail.
type Failure struct {
	Where  string // "04-train", "04-train: pytest tests.test_x::test_y", "TestMain", "guardrail"
	Result string // FAIL, INTERRUPTED, or VIOLATED for a guardrail
	Reason string
}

// Failures are the run's failures, in the order a reader meets them.
func (e *Evidence) Failures() []Failure {
	var out []Failure
	if e.TestMain != "" {
		out = append(out, Failure{"TestMain", evidence.Fail, lastMessage(e.TestMain)})
	}
	for _, s := range append(slices.Clone(e.Sections), e.Others...) {
		name := cmpOr(sectionID(s), s.Test)
		if s.Result == evidence.Fail || s.Result == evidence.Interrupted {
			out = append(out, Failure{name, s.Result, OrDash(s.Reason)})
		}
		for _, c := range s.Cases {
			if c.Result == evidence.Fail {
				out = append(out, Failure{name + ": pytest " + c.ID, evidence.Fail, OrDash(c.Reason)})
			}
		}
	}
	for _, g := range e.Violated() {
		out = append(out, Failure{"guardrail", "VIOLATED", strings.TrimSpace(g.Rule + Paren(g.Detail))})
	}
	return out
}

// sectionID is the section's label ("04-train"), or "" for a test that is no section.
func sectionID(s evidence.Section) string {
	if s.Section == "" {
		return ""
	}
	return s.ID()
}

// Warnings is each section's count of warning lines, with its log: "04-train: 2 warning lines
// (logs/04-train.log)", joined; "none recorded" when there are none.
func (e *Evidence) Warnings() string {
	return e.countLine(func(s evidence.Section) int { return s.Warnings }, "warning line")
}

// NaNs is each section's count of log lines with a NaN or Inf loss, as Warnings.
func (e *Evidence) NaNs() string {
	return e.countLine(func(s evidence.Section) int { return s.NaN }, "log line with a NaN or Inf loss")
}

func (e *Evidence) countLine(n func(evidence.Section) int, what string) string {
	var parts []string
	for _, s := range e.Sections {
		if k := n(s); k > 0 {
			parts = append(parts, s.ID()+": "+pluralPhrase(k, what)+Paren(s.Log))
		}
	}
	if len(parts) == 0 {
		return "none recorded"
	}
	return strings.Join(parts, "; ")
}

// pluralPhrase is Plural for a phrase whose first word takes the number: "2 log lines with a NaN".
func pluralPhrase(n int, phrase string) string {
	head, rest, _ := strings.Cut(phrase, " with ")
	s := Plural(n, head)
	if rest != "" {
		s += " with " + rest
	}
	return s
}

// Result is a section's result as its cell shows it: the word, and for a PASS what qualifies
// it ("PASS (no NVIDIA GPU found: a CPU-only run)"), in markdown.
func Result(s evidence.Section) string {
	if s.Result == evidence.Pass && s.Reason != "" {
		return "PASS (" + Text(s.Reason) + ")"
	}
	return ResultCell(s.Result)
}

// Notes is a section's Notes cell, plain: why it did not pass, its exit code when its reason
// does not say it, its warnings, its deviation when its reason does not say it (a section the
// plan leaves out gives the deviation's reason as its own), and its own notes.
func Notes(s evidence.Section) string {
	var parts []string
	reason := s.Result != evidence.Pass && s.Reason != ""
	if reason {
		parts = append(parts, s.Reason)
	}
	if s.Result == evidence.NotRun {
		parts = append(parts, "the run did not reach it, or -run left it out")
	}
	if s.ExitCode != nil && *s.ExitCode != 0 && !strings.Contains(s.Reason, "exit") {
		parts = append(parts, "exit code "+strconv.Itoa(*s.ExitCode))
	}
	if s.Warnings > 0 {
		parts = append(parts, Plural(s.Warnings, "warning"))
	}
	if s.Deviation != "" && !(reason && strings.Contains(s.Reason, s.Deviation)) { // said once
		parts = append(parts, "deviation: "+s.Deviation)
	}
	return strings.Join(append(parts, s.Notes...), "; ")
}

// EnvLine is what the run saw of the variables that decide what difftrain's tests skip and how
// CUDA runs, in markdown, each "unset" when it was.
func (e *Evidence) EnvLine() string {
	var parts []string
	for _, k := range evidence.ReportedEnv {
		v, ok := e.Run.Env[k]
		switch {
		case ok:
			parts = append(parts, Code(k+"="+v))
		case slices.Contains(evidence.DecisiveEnv, k):
			parts = append(parts, Code(k)+" unset")
		}
	}
	return strings.Join(parts, ", ")
}

// NotRecorded is what a document shows for a fact the run did not record.
const NotRecorded = "not recorded"

// Plural is "1 file" or "3 files".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// Paren is " (s)", or "" for an empty s.
func Paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// YesNo is "yes" or "no".
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// HumanSize is a byte count as people read it: "512 B", "3.2 KiB"; "—" when unknown (< 0).
func HumanSize(n int64) string {
	if n < 0 {
		return "—"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	u := -1
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", f, units[u])
}

// MiB is a size in whole MiB: "24564 MiB".
func MiB(b uint64) string { return fmt.Sprintf("%d MiB", b/(1<<20)) }

// GPUShort is the GPU model(s) and memory in a few words: "NVIDIA GeForce RTX 4090 (24564 MiB)"
// or "8× NVIDIA H200 (143771 MiB each)".
func (e *Evidence) GPUShort() string {
	if e.Env == nil {
		return NotRecorded
	}
	gs := e.Env.NVML.GPUs
	switch {
	case !e.Env.NVML.Available:
		return "no GPU (NVML unavailable)"
	case len(gs) == 0:
		return "no GPU found"
	case len(gs) == 1:
		return fmt.Sprintf("%s (%s)", gs[0].Name, MiB(gs[0].MemoryTotalBytes))
	}
	for _, g := range gs[1:] {
		if g.Name != gs[0].Name || g.MemoryTotalBytes != gs[0].MemoryTotalBytes {
			return GPUList(gs)
		}
	}
	return fmt.Sprintf("%d× %s (%s each)", len(gs), gs[0].Name, MiB(gs[0].MemoryTotalBytes))
}

// GPUList is "NVIDIA GeForce RTX 4090, 24564 MiB, cc 8.9" per GPU, prefixed by the index when
// there are several.
func GPUList(gpus []gpuenv.GPU) string {
	if len(gpus) == 0 {
		return "none found by NVML"
	}
	var parts []string
	for _, g := range gpus {
		s := fmt.Sprintf("%s, %s", g.Name, MiB(g.MemoryTotalBytes))
		if g.ComputeCapability != "" {
			s += ", cc " + g.ComputeCapability
		}
		if len(gpus) > 1 {
			s = fmt.Sprintf("%d: %s", g.Index, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// GPUWords is the GPUs in a few words: "NVIDIA GeForce RTX 4090", "8× NVIDIA H100 80GB HBM3",
// "4× A, 4× B"; "" for none.
func GPUWords(gpus []evidence.SummaryGPU) string {
	var names []string
	n := map[string]int{}
	for _, g := range gpus {
		if n[g.Name] == 0 {
			names = append(names, g.Name)
		}
		n[g.Name]++
	}
	if len(gpus) == 1 {
		return gpus[0].Name
	}
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%d× %s", n[name], name)
	}
	return strings.Join(parts, ", ")
}
