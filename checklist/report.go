package checklist

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// reportMD is report.md: the short report the runbook asks to send to the team.
func reportMD(e *view.Evidence, _ view.Options) ([]byte, string, error) {
	var b bytes.Buffer
	r := e.Run
	b.WriteString(e.CPUOnly())
	fmt.Fprintf(&b, "# difftrain smoke report: %s\n\n", e.Verdict())
	b.WriteString(e.Banners())
	when := view.Text(r.StartedUTC)
	if r.FinishedUTC != "" {
		when += " → " + view.Text(r.FinishedUTC)
	}
	fmt.Fprintf(&b, "- When (UTC): %s\n", when)
	fmt.Fprintf(&b, "- Instance: %s\n", view.Text(e.Instance()))
	fmt.Fprintf(&b, "- Interpreter: %s\n", e.Interpreter())
	plan := view.Text(view.OrDash(r.Plan.Name))
	if r.Plan.SHA256 != "" {
		plan += ", sha256 " + view.Text(r.Plan.SHA256)
	}
	fmt.Fprintf(&b, "- Plan: %s\n", plan)
	fmt.Fprintf(&b, "- Environment the steps saw: %s\n", e.EnvLine())
	if r.DifftrainDir != "" {
		fmt.Fprintf(&b, "- difftrain: %s, git %s\n", view.Code(r.DifftrainDir), view.Text(e.GitState()))
	}
	writeResults(&b, e)
	writeNodeReport(&b, e)
	writeEvidence(&b, e)
	writeDeviations(&b, e)
	if len(r.Leftovers) > 0 {
		b.WriteString("\n## Leftovers moved aside\n\n")
		for _, l := range r.Leftovers {
			fmt.Fprintf(&b, "- %s: %s (%s) from an earlier run, moved to %s before anything ran\n", view.Code(l.Dir),
				view.Plural(l.Files, "file"), view.HumanSize(l.Bytes), view.Code(e.OutPath(l.MovedTo)))
		}
	}
	b.WriteString("\n## Guardrails\n\n")
	writeGuardrails(&b, e)
	writeReproduce(&b, e)
	return b.Bytes(), "", nil
}

func writeResults(b *bytes.Buffer, e *view.Evidence) {
	b.WriteString("\n## Results\n\n")
	for _, s := range e.Sections {
		line := fmt.Sprintf("- %s: %s%s", view.Text(s.ID()), view.ResultCell(s.Result), caseCounts(s))
		if s.Reason != "" {
			line += " — " + view.Text(s.Reason)
		}
		b.WriteString(line + "\n")
		for _, l := range caseLines(s) {
			b.WriteString("  - " + l + "\n")
		}
	}
	for _, o := range e.Others {
		fmt.Fprintf(b, "- %s: %s — %s\n", view.Text(o.Test), view.ResultCell(o.Result), view.Text(view.OrDash(o.Reason)))
	}
	if e.TestMain != "" {
		fmt.Fprintf(b, "- TestMain: **FAIL** — %s\n", view.Text(e.Failures()[0].Reason))
	}
	fmt.Fprintf(b, "\nVerdict: %s\n", e.VerdictLine())
}

func writeEvidence(b *bytes.Buffer, e *view.Evidence) {
	b.WriteString("\n## Evidence\n\n")
	fmt.Fprintf(b, "- Checklist: %s\n", view.Code(e.OutPath(evidence.ChecklistFile)))
	fmt.Fprintf(b, "- Logs: %s%s\n", view.Code(e.OutPath(evidence.LogsDir+"/")), countOf(len(e.Logs), "file"))
	fmt.Fprintf(b, "- Artifacts: %s%s\n", view.Code(e.OutPath(evidence.CopiesDir+"/")), countOf(len(e.Files), "file"))
	fmt.Fprintf(b, "- JUnit: %s\n", view.Code(e.OutPath(evidence.JUnitFile)))
	if e.HasSMI {
		fmt.Fprintf(b, "- nvidia-smi: %s\n", view.Code(e.OutPath(evidence.NvidiaSMIFile)))
	} else {
		b.WriteString("- nvidia-smi: not recorded\n")
	}
}

// countOf is " (3 files)", or "" for none.
func countOf(n int, word string) string {
	if n == 0 {
		return ""
	}
	return " (" + view.Plural(n, word) + ")"
}

func writeDeviations(b *bytes.Buffer, e *view.Evidence) {
	b.WriteString("\n## Deviations\n\n")
	devs := e.Deviations()
	if len(devs) == 0 {
		b.WriteString("none\n")
	}
	for _, d := range devs {
		line := "- " + view.Text(view.DeviationID(d)) + ":"
		switch {
		case d.Command == evidence.SkippedCommand:
			line += " skipped"
			if d.Runbook != "" {
				line += " (the runbook runs " + view.Code(d.Runbook) + ")"
			}
			line += "."
		case d.Command != "":
			line += " ran " + view.Code(d.Command)
			if d.Runbook != "" {
				line += " instead of the runbook's " + view.Code(d.Runbook)
			}
			line += "."
		}
		b.WriteString(line + " Reason: " + view.Text(view.OrDash(d.Reason)) + "\n")
	}
}

// writeReproduce says how to run each failed step again.
func writeReproduce(b *bytes.Buffer, e *view.Evidence) {
	var failed []evidence.Section
	for _, s := range e.Sections {
		if s.Result == evidence.Fail {
			failed = append(failed, s)
		}
	}
	if len(failed) == 0 && e.TestMain == "" {
		return
	}
	b.WriteString("\n## Reproduce\n")
	for _, s := range failed {
		fmt.Fprintf(b, "\n%s failed", view.Text(s.ID()))
		if s.Log != "" {
			fmt.Fprintf(b, "; log %s", view.Code(e.OutPath(s.Log)))
		}
		b.WriteString(".")
		if s.ExitCode != nil && s.Command != "" {
			wd := cmpOr(e.Run.Workspace, "(workspace not recorded)")
			fmt.Fprintf(b, " From the workspace, run:\n\n%s", view.Fence("sh", "cd "+evidence.ShellQuote(wd)+"\n"+s.Command))
		} else {
			b.WriteString(" It runs no command of its own; see its notes in the checklist.\n")
		}
	}
	if e.TestMain != "" && len(failed) == 0 {
		b.WriteString("\nThe suite failed before its sections ran; see the TestMain output in the checklist.\n")
	}
	if e.Repro {
		fmt.Fprintf(b, "\nOr replay the run's steps: %s\n", view.Code("bash "+e.OutPath(evidence.ReproFile)))
	}
}

var _ = strings.Join
