// Package checklist renders a smoke run's evidence into the markdown checklist and the team report.
package checklist

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
)

// Options pins what the evidence does not fix, so that output is exact in tests.
type Options struct {
	// Now is the "rendered at" time; zero means the current time.
	Now time.Time
	// Operator fills the template's Operator row (SMOKE_OPERATOR); empty leaves it blank.
	Operator string
	// Location fills the template's Location row (SMOKE_LOCATION); empty means the instance's
	// vendor as the machine reports it.
	Location string
	// Template is the checklist template to fill; empty means
	// <difftrain_dir>/docs/mvp_smoke_checklist.md from run.json.
	Template string
	// StepSummary is a file the report is appended to ($GITHUB_STEP_SUMMARY); empty means none.
	StepSummary string
	// TailLines is how many log lines a failure shows; zero means 40.
	TailLines int
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now().UTC()
	}
	return o.Now.UTC()
}

func (o Options) tail() int {
	if o.TailLines <= 0 {
		return 40
	}
	return o.TailLines
}

// Result says what Render wrote.
type Result struct {
	Verdict string   // PASS, FAIL, INTERRUPTED or INCOMPLETE
	Written []string // the files written, in order
	// TemplateKind is the kind of template filled: KindUpstream, KindLegacy or "none";
	// empty when it was not filled.
	TemplateKind string
	// TemplateNote says why the template was not filled, or that nothing in it could be;
	// one line naming the template. Empty when it was filled.
	TemplateNote string
}

// TemplateRel is where a difftrain checkout keeps its checklist template.
const TemplateRel = "docs/mvp_smoke_checklist.md"

// Source is what a rendering reads the sections' results from.
type Source int

const (
	// FromJUnit reads them from gotestsum's junit.xml, as `make checklist` does.
	FromJUnit Source = iota
	// FromRun reads them from run.json, as the suite does at the end of a run that gotestsum
	// did not wrap (`go test ./smoke`).
	FromRun
)

// RenderDir renders the evidence directory dir and seals it. It refuses evidence changed since
// it was sealed (the rendered documents aside, which it rewrites), so that rendering again can
// never re-seal tampered evidence; then it reads the evidence from src, writes checklist.md,
// report.md, summary.json, smoke.prom, telemetry.svg and the filled template (Render), and
// rewrites SHA256SUMS. A run that FAILED
// renders without error.
func RenderDir(dir string, src Source, opts Options) (Result, error) {
	if err := evidence.CheckSealed(dir); err != nil {
		return Result{}, err
	}
	load := Load
	if src == FromRun {
		load = LoadRun
	}
	e, err := load(dir)
	if err != nil {
		return Result{}, err
	}
	res, err := Render(e, opts)
	if err != nil {
		return res, err
	}
	if src == FromJUnit {
		if err := AddLogTails(e); err != nil {
			return res, err
		}
	}
	// The seal the suite wrote, extended with what was written since: the documents, and
	// gotestsum's files when it wrapped the suite.
	if err := evidence.Reseal(dir, append([]string{evidence.JUnitFile, evidence.JSONFile}, evidence.Documents...)...); err != nil {
		return res, err
	}
	res.Written = append(res.Written, filepath.Join(dir, evidence.SumsFile))
	return res, nil
}

// Render writes checklist.md, report.md, summary.json, smoke.prom (Prom), telemetry.svg when
// the run recorded telemetry.csv (TelemetrySVG), and the filled template of e into e.Dir.
func Render(e *Evidence, opts Options) (Result, error) {
	dir := e.Dir
	res := Result{Verdict: e.Verdict()}
	write := func(name string, b []byte) error {
		p := filepath.Join(dir, name)
		if err := evidence.WriteFileAtomic(p, b, 0o644); err != nil {
			return err
		}
		res.Written = append(res.Written, p)
		return nil
	}

	var svg []byte // drawn first: a telemetry.csv that cannot be read leaves every document as it was
	if e.Telemetry {
		var err error
		if svg, err = TelemetrySVG(e); err != nil {
			return res, err
		}
	}

	var cl, rep bytes.Buffer
	writeChecklist(&cl, e, opts)
	writeReport(&rep, e, opts)
	if err := write(evidence.ChecklistFile, cl.Bytes()); err != nil {
		return res, err
	}
	if err := write(evidence.ReportFile, rep.Bytes()); err != nil {
		return res, err
	}
	sum := e.Summary()
	if err := evidence.WriteSummary(dir, &sum, nil); err != nil {
		return res, err
	}
	res.Written = append(res.Written, filepath.Join(dir, evidence.SummaryFile))
	if err := write(evidence.PromFile, Prom(&sum)); err != nil {
		return res, err
	}
	if svg != nil {
		if err := write(evidence.TelemetrySVGFile, svg); err != nil {
			return res, err
		}
	} else if err := os.Remove(filepath.Join(dir, evidence.TelemetrySVGFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("remove the stale %s: %w", filepath.Join(dir, evidence.TelemetrySVGFile), err)
	}

	tmplPath := opts.Template
	if tmplPath == "" && e.Run.DifftrainDir != "" {
		tmplPath = filepath.Join(e.Run.DifftrainDir, filepath.FromSlash(TemplateRel))
	}
	switch tmpl, err := os.ReadFile(tmplPath); {
	case tmplPath == "":
		res.TemplateNote = "run.json names no difftrain_dir; template not filled"
	case errors.Is(err, fs.ErrNotExist):
		res.TemplateNote = fmt.Sprintf("no template at %s; not filled", tmplPath)
	case err != nil:
		return res, fmt.Errorf("read %s: %w", tmplPath, err)
	default:
		if note := unfillable(tmplPath, tmpl); note != "" {
			res.TemplateNote = note
			break
		}
		filled, kind := FillTemplate(tmpl, e, opts)
		res.TemplateKind = kind
		if kind == "none" {
			res.TemplateNote = fmt.Sprintf("%s: nothing to fill (%s); written with the banner only", tmplPath, whyNothingFilled(tmpl))
		}
		if err := write(evidence.TemplateFile, filled); err != nil {
			return res, err
		}
	}

	if opts.StepSummary != "" {
		if err := AppendFile(opts.StepSummary, rep.Bytes()); err != nil {
			return res, err
		}
		res.Written = append(res.Written, opts.StepSummary)
	}
	return res, nil
}

// unfillable says why the template at p cannot be filled at all: it is empty, or it is not text.
// Empty when it can be.
func unfillable(p string, tmpl []byte) string {
	if len(bytes.TrimSpace(tmpl)) == 0 {
		return fmt.Sprintf("%s: empty file; not filled", p)
	}
	if i := bytes.IndexByte(tmpl, 0); i >= 0 {
		return fmt.Sprintf("%s: not a text file (NUL byte at offset %d); not filled", p, i)
	}
	return ""
}

// AppendFile appends b to the file p, creating it, with a blank line before it when the file
// already has content (as $GITHUB_STEP_SUMMARY wants).
func AppendFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		b = append([]byte("\n"), b...)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	return nil
}

// Verdict sums the run up (evidence.Judge): a failed TestMain, a failed test that is no
// section and a violated guardrail fail it too.
func (e *Evidence) Verdict() string {
	results := make([]string, len(e.Sections))
	for i, s := range e.Sections {
		results[i] = s.Result
	}
	return evidence.Judge(results, e.TestMain != "" || len(e.Others) > 0 || e.violations() > 0, e.Run.Interrupted != "")
}

func (e *Evidence) violations() int {
	n := 0
	for _, g := range e.Run.Guardrails {
		if !g.OK {
			n++
		}
	}
	return n
}

// counts is "5 PASS, 1 FAIL, 3 SKIPPED of 9 sections" over the sections, and the guardrails
// violated.
func (e *Evidence) counts() string {
	order := []string{evidence.Pass, evidence.Fail, evidence.Interrupted, evidence.Skipped, evidence.NA, NotRun}
	n := map[string]int{}
	for _, s := range e.Sections {
		n[s.Result]++
	}
	var parts []string
	for _, w := range order {
		if n[w] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[w], w))
		}
	}
	s := strings.Join(parts, ", ") + fmt.Sprintf(" of %d sections", len(e.Sections))
	if v := e.violations(); v > 0 {
		s += fmt.Sprintf("; %d guardrail", v)
		if v > 1 {
			s += "s"
		}
		s += " violated"
	}
	return s
}

// verdictText is the verdict in plain words, for places that take no markup.
func (e *Evidence) verdictText() string {
	s := fmt.Sprintf("%s (%s)", e.Verdict(), e.counts())
	if e.Run.Fixture {
		s += ", fixture run, not real difftrain"
	}
	return s
}

// verdictLine is the one-line summary both documents start with.
func (e *Evidence) verdictLine() string {
	s := fmt.Sprintf("**%s** (%s)", e.Verdict(), e.counts())
	if e.Run.Fixture {
		s += " — fixture run, not real difftrain"
	}
	return s
}

// cpuOnly is the line both documents open with when no GPU was used, above the verdict.
func (e *Evidence) cpuOnly() string {
	c := e.Run.Compute
	if c == nil || c.GPUUsed {
		return ""
	}
	return fmt.Sprintf("**%s** (%s).\n\n", evidence.CPUOnlyBanner, Text(c.Why))
}

// banners are the warnings that must be read before anything else.
func (e *Evidence) banners() string {
	var b strings.Builder
	if e.Run.Fixture {
		fmt.Fprintf(&b, "> **FIXTURE RUN:** the bundled stand-in for difftrain ran (%s), not a real checkout. These results check the harness, not difftrain.\n\n",
			Text(orDash(e.Run.DifftrainDir)))
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

// outPath is rel (relative to SMOKE_OUT) as an absolute-looking path under Out.
func (e *Evidence) outPath(rel string) string {
	if rel == "" {
		return e.Out
	}
	return strings.TrimSuffix(e.Out, "/") + "/" + strings.TrimPrefix(rel, "/")
}

// sectionNotes is the Notes cell of a section: why it did not pass, its warnings, its
// deviation and its own notes.
func sectionNotes(s Section) string {
	var parts []string
	if s.Reason != "" && s.Result != evidence.Pass {
		parts = append(parts, s.Reason)
	}
	if s.Result == NotRun {
		parts = append(parts, "the run did not reach it, or -run left it out")
	}
	if s.ExitCode != "" && s.ExitCode != "0" && !strings.Contains(s.Reason, "exit") {
		parts = append(parts, "exit code "+s.ExitCode)
	}
	if s.Warnings > 0 {
		parts = append(parts, plural(s.Warnings, "warning"))
	}
	if s.Deviation != "" {
		parts = append(parts, "deviation: "+s.Deviation)
	}
	if s.Notes != "" {
		parts = append(parts, s.Notes)
	}
	return strings.Join(parts, "; ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func resultCell(r string) string {
	switch r {
	case evidence.Fail, evidence.Interrupted:
		return "**" + r + "**"
	}
	return r
}

func duration(s Section) string {
	if s.Duration == "" {
		return "—"
	}
	return s.Duration + " s"
}

func humanSize(n int64) string {
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

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeChecklist(b *bytes.Buffer, e *Evidence, opts Options) {
	title := "difftrain smoke checklist"
	if e.Run.Plan.Name != "" {
		title += ": " + Text(e.Run.Plan.Name)
	}
	b.WriteString(e.cpuOnly())
	fmt.Fprintf(b, "# %s\n\n", title)
	b.WriteString(e.banners())
	fmt.Fprintf(b, "Verdict: %s\n\n", e.verdictLine())

	b.WriteString(header("Run", "Value"))
	for _, kv := range runRows(e) {
		b.WriteString(Row(kv[0], kv[1]) + "\n")
	}

	b.WriteString("\n## Environment\n\n")
	b.WriteString(header("Field", "Value"))
	for _, kv := range envRows(e) {
		b.WriteString(Row(Text(kv[0]), Text(kv[1])) + "\n")
	}

	b.WriteString("\n## Sections\n\n")
	b.WriteString(header("#", "Section", "Command", "Expected", "Result", "Duration", "Notes"))
	for _, s := range e.Sections {
		cmd := orDash(Code(s.Command))
		b.WriteString(Row(Text(s.Number), Text(s.Name+" — "+s.Title), cmd, Text(s.Expected),
			resultCell(s.Result), duration(s), Text(sectionNotes(s))) + "\n")
	}
	writeCases(b, e)

	b.WriteString("\n## Artifacts\n\n")
	if len(e.Files) == 0 {
		fmt.Fprintf(b, "No files under %s.\n", Code(e.outPath(evidence.CopiesDir+"/")))
	} else {
		b.WriteString(header("Path", "Size", "SHA-256", "Notes"))
		for _, f := range e.Files {
			var notes []string
			if f.Missing {
				notes = append(notes, "MISSING")
			}
			if f.Ref != "" {
				notes = append(notes, "too large to copy; original: "+f.Ref)
			}
			if len(f.By) > 0 {
				notes = append(notes, "checked by "+strings.Join(f.By, ", "))
			}
			b.WriteString(Row(Code(f.Path), humanSize(f.Size), orDash(Text(f.SHA256)), Text(strings.Join(notes, "; "))) + "\n")
		}
	}

	b.WriteString("\n## Warnings, NaNs, failures\n\n")
	writeFindings(b, e)

	b.WriteString("\n## Guardrails\n\n")
	writeGuardrails(b, e)

	b.WriteString("\n## Telemetry peaks\n\n")
	var peaks []Section
	for _, s := range e.Sections {
		if s.Peaks != (Peaks{}) {
			peaks = append(peaks, s)
		}
	}
	if len(peaks) == 0 {
		b.WriteString("Not recorded.\n")
	} else {
		b.WriteString(header("#", "Section", "Peak memory (MiB)", "Peak utilisation (%)", "Max temperature (°C)", "Max power (W)"))
		for _, s := range peaks {
			b.WriteString(Row(Text(s.Number), Text(s.Name), orDash(Text(s.Peaks.MemMiB)), orDash(Text(s.Peaks.UtilPct)),
				orDash(Text(s.Peaks.TempC)), orDash(Text(s.Peaks.PowerW))) + "\n")
		}
	}
	if e.Telemetry {
		fmt.Fprintf(b, "\nSamples: %s, drawn over time in [%s](%s) (one panel per GPU, the sections as bands)\n",
			Code(e.outPath(evidence.TelemetryFile)), evidence.TelemetrySVGFile, evidence.TelemetrySVGFile)
	}

	tails := failureTails(e, opts.tail())
	if len(tails) > 0 {
		b.WriteString("\n## Failure logs\n")
		for _, t := range tails {
			b.WriteString("\n" + t)
		}
	}

	b.WriteString("\n## nvidia-smi\n\n")
	if e.HasSMI {
		b.WriteString(Fence("text", e.SMI))
	} else {
		b.WriteString("Not recorded.\n")
	}

	fmt.Fprintf(b, "\n---\n\nRendered %s from %s.\n", opts.now().Format("2006-01-02 15:04:05 UTC"), Code(e.Out))
}

// runRows are the run's own facts: when, where from, with what.
func runRows(e *Evidence) [][2]string {
	r := e.Run
	finished := r.FinishedUTC
	if finished == "" {
		finished = "not recorded"
	}
	plan := Text(orDash(r.Plan.Name))
	switch {
	case strings.HasPrefix(r.Plan.Path, "("):
		plan += " " + Text(r.Plan.Path)
	case r.Plan.Path != "":
		plan += " (" + Code(r.Plan.Path) + ")"
	}
	git := "not a git repository"
	switch {
	case r.Git.Error != "":
		git = "unknown: " + r.Git.Error
	case r.Git.IsRepo:
		state := "clean"
		if !r.Git.Clean {
			state = "dirty"
		}
		git = strings.TrimSpace(fmt.Sprintf("%s %s, %s", r.Git.Commit, paren(r.Git.Branch), state))
	}
	rows := [][2]string{
		{"Started (UTC)", Text(r.StartedUTC)},
		{"Finished (UTC)", Text(finished)},
		{"Evidence", Code(e.Out)},
		{"Plan", plan},
		{"Plan SHA-256", orDash(Text(r.Plan.SHA256))},
		{"Interpreter", orDash(Code(r.Python))},
		{"difftrain", orDash(Code(r.DifftrainDir))},
		{"Workspace", orDash(Code(r.Workspace))},
		{"Git", Text(git)},
		{"GPU mode", yesNo(r.GPUMode)},
		{"Fixture", yesNo(r.Fixture)},
	}
	if r.Interrupted != "" {
		rows = append(rows, [2]string{"Interrupted", Text(r.Interrupted)})
	}
	if len(r.TempConfigs) > 0 {
		rows = append(rows, [2]string{"Temporary configs", codeList(r.TempConfigs)})
	}
	if len(r.Untracked) > 0 {
		rows = append(rows, [2]string{"Untracked files", codeList(r.Untracked)})
	}
	if e.Repro {
		rows = append(rows, [2]string{"Reproduce", Code("bash " + e.outPath(evidence.ReproFile))})
	}
	return rows
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = Code(it)
	}
	return strings.Join(out, ", ")
}

// failureLines are the run's failures, one list item each, already escaped.
func failureLines(e *Evidence) []string {
	var out []string
	if e.TestMain != "" {
		out = append(out, "suite: TestMain failed: "+Text(lastMessage(e.TestMain)))
	}
	for _, s := range append(slices.Clone(e.Sections), e.Others...) {
		name := s.Slug()
		if s.Number == "" {
			name = s.Test
		}
		switch s.Result {
		case evidence.Fail, evidence.Interrupted:
			out = append(out, Text(name)+": **"+s.Result+"** — "+Text(orDash(s.Reason)))
		}
		for _, l := range caseLines(s) {
			if strings.HasPrefix(l, "FAILED ") {
				out = append(out, Text(name)+": pytest "+l)
			}
		}
	}
	for _, g := range e.Run.Guardrails {
		if !g.OK {
			line := "guardrail **VIOLATED**: " + Text(g.Rule)
			if g.Detail != "" {
				line += " — " + Text(g.Detail)
			}
			out = append(out, line)
		}
	}
	return out
}

// writeFindings writes the runbook's "any warnings, NaNs, or failures", each said explicitly.
func writeFindings(b *bytes.Buffer, e *Evidence) {
	fails := failureLines(e)
	if len(fails) == 0 {
		b.WriteString("- Failures: none\n")
	}
	for _, f := range fails {
		b.WriteString("- Failure: " + f + "\n")
	}
	var warn []string
	for _, s := range e.Sections {
		if s.Warnings > 0 {
			warn = append(warn, Text(s.Slug())+": "+plural(s.Warnings, "warning line")+logRef(s))
		}
	}
	if len(warn) == 0 {
		b.WriteString("- Warnings: none recorded\n")
	} else {
		b.WriteString("- Warnings: " + strings.Join(warn, "; ") + "\n")
	}
	var nans []string
	for _, s := range e.Sections {
		if s.NaN > 0 {
			nans = append(nans, Text(fmt.Sprintf("%s: %s with a NaN or Inf loss", s.Slug(), plural(s.NaN, "log line")))+logRef(s))
		}
	}
	if len(nans) == 0 {
		b.WriteString("- NaNs: none recorded\n")
	} else {
		b.WriteString("- NaNs: " + strings.Join(nans, "; ") + "\n")
	}
	if e.Env != nil {
		v := envValues(e)
		b.WriteString("- Health checks: " + Text(v["Health"]) + "\n")
		if len(e.Env.Notes) > 0 {
			b.WriteString("- Environment notes: " + Text(v["Notes"]) + "\n")
		}
	}
}

func logRef(s Section) string {
	if s.Log == "" {
		return ""
	}
	return " (" + Code(s.Log) + ")"
}

func writeGuardrails(b *bytes.Buffer, e *Evidence) {
	if len(e.Run.Guardrails) == 0 {
		b.WriteString("None recorded.\n")
		return
	}
	for _, g := range e.Run.Guardrails {
		mark, tail := "[x]", ""
		if !g.OK {
			mark, tail = "[ ]", " — **VIOLATED**"
		}
		line := fmt.Sprintf("- %s %s%s", mark, Text(g.Rule), tail)
		if g.Detail != "" {
			line += ": " + Text(g.Detail)
		}
		b.WriteString(line + "\n")
	}
	if len(e.Run.TempConfigs) > 0 {
		fmt.Fprintf(b, "- Temporary configs (runbook: record the path): %s\n", codeList(e.Run.TempConfigs))
	}
	if len(e.Run.Untracked) > 0 {
		fmt.Fprintf(b, "- Untracked files written outside the plan's output directories: %s\n", codeList(e.Run.Untracked))
	}
}

// failureTails renders, for each failed or interrupted section, the last lines of its log.
func failureTails(e *Evidence, n int) []string {
	var out []string
	if e.TestMain != "" {
		out = append(out, fmt.Sprintf("### TestMain\n\nFrom %s (last %d lines):\n\n%s",
			Code(e.outPath(evidence.JUnitFile)), n, Fence("text", tail(e.TestMain, n))))
	}
	for _, s := range append(slices.Clone(e.Sections), e.Others...) {
		if s.Result != evidence.Fail && s.Result != evidence.Interrupted {
			continue
		}
		heading := fmt.Sprintf("### %s — %s\n\n", Text(s.Slug()), s.Result)
		logRel := s.Log
		if logRel == "" {
			logRel = guessLog(e, s)
		}
		if logRel != "" {
			b, err := os.ReadFile(filepath.Join(e.Dir, filepath.FromSlash(logRel)))
			if err == nil {
				out = append(out, heading+fmt.Sprintf("Log %s (last %d lines):\n\n%s", Code(e.outPath(logRel)), n, Fence("text", tail(string(b), n))))
				continue
			}
			heading += fmt.Sprintf("Log %s was not found.\n\n", Code(e.outPath(logRel)))
		}
		if logRel == "" {
			heading += fmt.Sprintf("It ran no command: %s\n", Text(orDash(s.Reason)))
		}
		out = append(out, heading)
	}
	return out
}

// guessLog finds logs/<NN>-*.log for a section that did not name its log.
func guessLog(e *Evidence, s Section) string {
	if s.Number == "" {
		return ""
	}
	for _, l := range e.Logs {
		if strings.HasPrefix(l, evidence.LogsDir+"/"+s.Number+"-") && strings.HasSuffix(l, ".log") {
			return l
		}
	}
	return ""
}

// tail is the last n lines of text, each cut to what a terminal shows after carriage returns
// (progress bars) and to at most 1000 characters.
func tail(text string, n int) string {
	text = strings.TrimRight(text, "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if j := strings.LastIndex(l, "\r"); j >= 0 {
			l = l[j+1:]
		}
		if len(l) > 1000 {
			l = strings.ToValidUTF8(l[:1000], "") + " …"
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}
