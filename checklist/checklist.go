package checklist

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// checklistMD is checklist.md: the runbook's checklist, filled from the run.
func checklistMD(e *view.Evidence, opts view.Options) ([]byte, string, error) {
	var b bytes.Buffer
	title := "difftrain smoke checklist"
	if e.Run.Plan.Name != "" {
		title += ": " + view.Text(e.Run.Plan.Name)
	}
	b.WriteString(e.CPUOnly())
	fmt.Fprintf(&b, "# %s\n\n", title)
	b.WriteString(e.Banners())
	fmt.Fprintf(&b, "Verdict: %s\n\n", e.VerdictLine())
	b.WriteString(view.Header("Run", "Value"))
	for _, kv := range runRows(e) {
		b.WriteString(view.Row(kv[0], kv[1]) + "\n")
	}
	b.WriteString("\n## Environment\n\n")
	b.WriteString(view.Header("Field", "Value"))
	for _, kv := range e.EnvRows() {
		b.WriteString(view.Row(view.Text(kv[0]), view.Text(kv[1])) + "\n")
	}
	writeSections(&b, e)
	writeNodeTable(&b, e)
	writeCases(&b, e)
	writeArtifacts(&b, e)
	b.WriteString("\n## Warnings, NaNs, failures\n\n")
	writeFindings(&b, e)
	b.WriteString("\n## Guardrails\n\n")
	writeGuardrails(&b, e)
	writePeaks(&b, e)
	if tails := failureTails(e); len(tails) > 0 {
		b.WriteString("\n## Failure logs\n")
		for _, t := range tails {
			b.WriteString("\n" + t)
		}
	}
	b.WriteString("\n## nvidia-smi\n\n")
	if e.HasSMI {
		b.WriteString(view.Fence("text", e.SMI))
	} else {
		b.WriteString("Not recorded.\n")
	}
	fmt.Fprintf(&b, "\n---\n\nRendered %s from %s.\n", opts.Time().Format("2006-01-02 15:04:05 UTC"), view.Code(e.Out))
	return b.Bytes(), "", nil
}

// runRows are the run's own facts: when, where from, with what.
func runRows(e *view.Evidence) [][2]string {
	r := e.Run
	plan := view.Text(view.OrDash(r.Plan.Name))
	switch {
	case strings.HasPrefix(r.Plan.Path, "("):
		plan += " " + view.Text(r.Plan.Path)
	case r.Plan.Path != "":
		plan += " (" + view.Code(r.Plan.Path) + ")"
	}
	rows := [][2]string{
		{"Started (UTC)", view.Text(r.StartedUTC)},
		{"Finished (UTC)", view.Text(cmpOr(r.FinishedUTC, view.NotRecorded))},
		{"Evidence", view.Code(e.Out)},
		{"Plan", plan},
		{"Plan SHA-256", view.OrDash(view.Text(r.Plan.SHA256))},
		{"Interpreter", view.OrDash(view.Code(r.Python))},
		{"difftrain", view.OrDash(view.Code(r.DifftrainDir))},
		{"Workspace", view.OrDash(view.Code(r.Workspace))},
		{"difftrain's git", view.Text(e.GitState())},
		{"GPU mode", view.YesNo(r.GPUMode)},
		{"Ran against", view.Text(e.Target())},
		{"Harness", view.Text(strings.TrimSpace(r.Harness.Version + view.Paren(r.Harness.Commit)))},
	}
	if r.Interrupted != "" {
		rows = append(rows, [2]string{"Interrupted", view.Text(r.Interrupted)})
	}
	if len(r.TempConfigs) > 0 {
		rows = append(rows, [2]string{"Temporary configs", codeList(r.TempConfigs)})
	}
	if len(r.Untracked) > 0 {
		rows = append(rows, [2]string{"Untracked files", codeList(r.Untracked)})
	}
	if e.Repro {
		rows = append(rows, [2]string{"Reproduce", view.Code("bash " + e.OutPath(evidence.ReproFile))})
	}
	return rows
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func writeSections(b *bytes.Buffer, e *view.Evidence) {
	b.WriteString("\n## Sections\n\n")
	b.WriteString(view.Header("#", "Section", "Command", "Expected", "Result", "Duration", "Notes"))
	for _, s := range e.Sections {
		b.WriteString(view.Row(view.Text(s.Section), view.Text(s.Name+" — "+s.Title), view.OrDash(view.Code(s.Command)), view.Text(s.Expected),
			view.Result(s), duration(s), view.Text(view.Notes(s))) + "\n")
	}
}

func duration(s evidence.Section) string {
	if s.Duration == "" {
		return "—"
	}
	return s.Duration + " s"
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = view.Code(it)
	}
	return strings.Join(out, ", ")
}

// writeArtifacts lists the files the sections wrote or copied, each with its size and sha256,
// and who copied it.
func writeArtifacts(b *bytes.Buffer, e *view.Evidence) {
	b.WriteString("\n## Artifacts\n\n")
	if len(e.Files) == 0 {
		fmt.Fprintf(b, "No files under %s.\n", view.Code(e.OutPath(evidence.CopiesDir+"/")))
		return
	}
	b.WriteString(view.Header("Path", "Size", "SHA-256", "Notes"))
	for _, f := range e.Files {
		var notes []string
		if f.Missing {
			notes = append(notes, "MISSING")
		}
		if f.Ref != "" {
			notes = append(notes, "not copied; original: "+f.Ref)
		}
		if f.Hashed > 0 {
			notes = append(notes, fmt.Sprintf("sparse: the sha256 covers its first %d bytes", f.Hashed))
		}
		if len(f.By) > 0 {
			notes = append(notes, "written by "+strings.Join(f.By, ", "))
		}
		b.WriteString(view.Row(view.Code(f.Path), view.HumanSize(f.Size), view.OrDash(view.Text(f.SHA256)), view.Text(strings.Join(notes, "; "))) + "\n")
	}
}

// writeFindings writes the runbook's "any warnings, NaNs, or failures", each said explicitly.
func writeFindings(b *bytes.Buffer, e *view.Evidence) {
	fails := e.Failures()
	if len(fails) == 0 {
		b.WriteString("- Failures: none\n")
	}
	for _, f := range fails {
		b.WriteString("- Failure: " + view.Text(f.Where) + ": **" + f.Result + "** — " + view.Text(f.Reason) + "\n")
	}
	b.WriteString("- Warnings: " + view.Text(e.Warnings()) + "\n")
	b.WriteString("- NaNs: " + view.Text(e.NaNs()) + "\n")
	if e.Env != nil {
		b.WriteString("- Health checks: " + view.Text(e.EnvValues()["Health"]) + "\n")
	}
}

func writeGuardrails(b *bytes.Buffer, e *view.Evidence) {
	if len(e.Run.Guardrails) == 0 {
		b.WriteString("None recorded.\n")
		return
	}
	for _, g := range e.Run.Guardrails {
		mark, tail := "[x]", ""
		if !g.OK {
			mark, tail = "[ ]", " — **VIOLATED**"
		}
		line := fmt.Sprintf("- %s %s%s", mark, view.Text(g.Rule), tail)
		if g.Detail != "" {
			line += ": " + view.Text(g.Detail)
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

func writePeaks(b *bytes.Buffer, e *view.Evidence) {
	b.WriteString("\n## Telemetry peaks\n\n")
	var peaks []evidence.Section
	for _, s := range e.Sections {
		if s.Peaks != nil {
			peaks = append(peaks, s)
		}
	}
	if len(peaks) == 0 {
		b.WriteString("Not recorded.\n")
	} else {
		b.WriteString(view.Header("#", "Section", "Peak memory (view.MiB)", "Peak utilisation (%)", "Max temperature (°C)", "Max power (W)"))
		for _, s := range peaks {
			p := s.Peaks
			b.WriteString(view.Row(view.Text(s.Section), view.Text(s.Name), view.OrDash(view.Text(p.MemMiB)), view.OrDash(view.Text(p.UtilPct)),
				view.OrDash(view.Text(p.TempC)), view.OrDash(view.Text(p.PowerW))) + "\n")
		}
	}
	if e.Telemetry {
		fmt.Fprintf(b, "\nSamples: %s, drawn over time in [%s](%s) (one panel per GPU, the sections as bands)\n",
			view.Code(e.OutPath(evidence.TelemetryFile)), evidence.TelemetrySVGFile, evidence.TelemetrySVGFile)
	}
}

// failureTails renders, for each failed or interrupted section, the last lines of its log.
func failureTails(e *view.Evidence) []string {
	var out []string
	if e.TestMain != "" {
		out = append(out, fmt.Sprintf("### TestMain\n\nFrom %s (last %d lines):\n\n%s",
			view.Code(e.OutPath(evidence.JUnitFile)), evidence.TailLines, view.Fence("text", evidence.TailText(e.TestMain, evidence.TailLines))))
	}
	for _, s := range append(slices.Clone(e.Sections), e.Others...) {
		if s.Result != evidence.Fail && s.Result != evidence.Interrupted {
			continue
		}
		heading := fmt.Sprintf("### %s — %s\n\n", view.Text(cmpOr(s.ID(), s.Test)), s.Result)
		logRel := cmpOr(s.Log, guessLog(e, s))
		if logRel != "" {
			tail, err := evidence.Tail(filepath.Join(e.Dir, filepath.FromSlash(logRel)), evidence.TailLines)
			if err == nil {
				out = append(out, heading+fmt.Sprintf("Log %s (last %d lines):\n\n%s", view.Code(e.OutPath(logRel)), evidence.TailLines, view.Fence("text", tail)))
				continue
			}
			heading += fmt.Sprintf("Log %s was not found.\n\n", view.Code(e.OutPath(logRel)))
		} else {
			heading += fmt.Sprintf("It ran no command: %s\n", view.Text(view.OrDash(s.Reason)))
		}
		out = append(out, heading)
	}
	return out
}

// guessLog finds logs/<NN>-*.log for a section that did not name its log.
func guessLog(e *view.Evidence, s evidence.Section) string {
	if s.Section == "" {
		return ""
	}
	for _, l := range e.Logs {
		if strings.HasPrefix(l, evidence.LogsDir+"/"+s.Section+"-") && strings.HasSuffix(l, ".log") {
			return l
		}
	}
	return ""
}
