package checklist

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// Deviations are the steps whose command differs from the runbook: the plan's list, then any a
// section recorded that the plan does not name.
func (e *Evidence) Deviations() []evidence.Deviation {
	out := append([]evidence.Deviation(nil), e.Run.Plan.Deviations...)
	for _, s := range e.Sections {
		if s.Deviation == "" {
			continue
		}
		known := false
		for _, d := range out {
			if d.Section == s.Number {
				known = true
			}
		}
		if !known {
			out = append(out, evidence.Deviation{Section: s.Number, Name: s.Name, Command: s.Command, Reason: s.Deviation})
		}
	}
	return out
}

// instance is the machine in one line: GPU, driver, CUDA, host, instance type.
func (e *Evidence) instance() string {
	parts := []string{gpuShort(e)}
	if f := e.Env; f != nil {
		if f.NVML.DriverVersion != "" {
			parts = append(parts, "driver "+f.NVML.DriverVersion)
		}
		if f.NVML.CUDADriverVersion != "" {
			parts = append(parts, "CUDA "+f.NVML.CUDADriverVersion)
		}
		if f.Host.Hostname != "" {
			parts = append(parts, "host "+f.Host.Hostname)
		}
		if inst := strings.TrimSpace(f.Host.SysVendor + " " + f.Host.ProductName); inst != "" {
			parts = append(parts, inst)
		}
		if f.Host.OS != "" {
			parts = append(parts, f.Host.OS)
		}
	}
	return strings.Join(parts, " · ")
}

func (e *Evidence) interpreter() string {
	s := orDash(Code(e.Run.Python))
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

func writeReport(b *bytes.Buffer, e *Evidence, opts Options) {
	r := e.Run
	b.WriteString(e.cpuOnly())
	fmt.Fprintf(b, "# difftrain smoke report: %s\n\n", e.Verdict())
	b.WriteString(e.banners())
	when := Text(r.StartedUTC)
	if r.FinishedUTC != "" {
		when += " → " + Text(r.FinishedUTC)
	}
	fmt.Fprintf(b, "- When (UTC): %s\n", when)
	fmt.Fprintf(b, "- Instance: %s\n", Text(e.instance()))
	fmt.Fprintf(b, "- Interpreter: %s\n", e.interpreter())
	plan := Text(orDash(r.Plan.Name))
	if r.Plan.SHA256 != "" {
		plan += ", sha256 " + Text(r.Plan.SHA256)
	}
	fmt.Fprintf(b, "- Plan: %s\n", plan)
	fmt.Fprintf(b, "- Environment the steps saw: %s\n", envLine(e))
	if r.DifftrainDir != "" {
		repo := Code(r.DifftrainDir)
		switch {
		case r.Git.Error != "":
			repo += ", git state unknown: " + Text(r.Git.Error)
		case r.Git.IsRepo:
			state := "clean"
			if !r.Git.Clean {
				state = "dirty"
			}
			repo += " at " + Text(strings.TrimSpace(r.Git.Commit+" "+paren(r.Git.Branch))) + ", " + state
		default:
			repo += ", not a git repository"
		}
		fmt.Fprintf(b, "- difftrain: %s\n", repo)
	}

	b.WriteString("\n## Results\n\n")
	for _, s := range e.Sections {
		line := fmt.Sprintf("- %s: %s%s", Text(s.Slug()), resultCell(s.Result), caseCounts(s))
		if s.Result != evidence.Pass && s.Reason != "" {
			line += " — " + Text(s.Reason)
		}
		b.WriteString(line + "\n")
		for _, l := range caseLines(s) {
			b.WriteString("  - " + l + "\n")
		}
	}
	for _, o := range e.Others {
		fmt.Fprintf(b, "- %s: %s — %s\n", Text(o.Test), resultCell(o.Result), Text(orDash(o.Reason)))
	}
	if e.TestMain != "" {
		fmt.Fprintf(b, "- suite: **FAIL** — TestMain: %s\n", Text(lastMessage(e.TestMain)))
	}
	fmt.Fprintf(b, "\nVerdict: %s\n", e.verdictLine())

	b.WriteString("\n## Evidence\n\n")
	fmt.Fprintf(b, "- Checklist: %s\n", Code(e.outPath(evidence.ChecklistFile)))
	fmt.Fprintf(b, "- Logs: %s", Code(e.outPath(evidence.LogsDir+"/")))
	if len(e.Logs) > 0 {
		fmt.Fprintf(b, " (%s)", plural(len(e.Logs), "file"))
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "- Artifacts: %s", Code(e.outPath(evidence.CopiesDir+"/")))
	if len(e.Files) > 0 {
		fmt.Fprintf(b, " (%s)", plural(len(e.Files), "file"))
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "- JUnit: %s\n", Code(e.outPath(evidence.JUnitFile)))
	if e.HasSMI {
		fmt.Fprintf(b, "- nvidia-smi: %s\n", Code(e.outPath(evidence.NvidiaSMIFile)))
	} else {
		b.WriteString("- nvidia-smi: not recorded\n")
	}

	b.WriteString("\n## Deviations\n\n")
	devs := e.Deviations()
	if len(devs) == 0 {
		b.WriteString("none\n")
	}
	for _, d := range devs {
		name := d.Section
		if d.Name != "" {
			name += "-" + d.Name
		}
		line := "- " + Text(name) + ":"
		if d.Command == evidence.SkippedCommand {
			line += " skipped"
			if d.Runbook != "" {
				line += " (the runbook runs " + Code(d.Runbook) + ")"
			}
			line += "."
		} else if d.Command != "" {
			line += " ran " + Code(d.Command)
			if d.Runbook != "" {
				line += " instead of the runbook's " + Code(d.Runbook)
			}
			line += "."
		}
		line += " Reason: " + Text(orDash(d.Reason))
		b.WriteString(line + "\n")
	}

	if len(r.Leftovers) > 0 {
		b.WriteString("\n## Leftovers moved aside\n\n")
		for _, l := range r.Leftovers {
			fmt.Fprintf(b, "- %s: %s (%s) from an earlier run, moved to %s before anything ran\n", Code(l.Dir),
				plural(l.Files, "file"), humanSize(l.Bytes), Code(e.outPath(l.MovedTo)))
		}
	}

	b.WriteString("\n## Guardrails\n\n")
	writeGuardrails(b, e)

	var failed []Section
	for _, s := range e.Sections {
		if s.Result == evidence.Fail {
			failed = append(failed, s)
		}
	}
	if len(failed) > 0 || e.TestMain != "" {
		b.WriteString("\n## Reproduce\n")
		for _, s := range failed {
			fmt.Fprintf(b, "\n%s failed", Text(s.Slug()))
			if s.Log != "" {
				fmt.Fprintf(b, "; log %s", Code(e.outPath(s.Log)))
			}
			b.WriteString(".")
			if s.Command != "" {
				wd := r.Workspace
				if wd == "" {
					wd = "(workspace not recorded)"
				}
				fmt.Fprintf(b, " From the workspace, run:\n\n%s", Fence("sh", "cd "+evidence.ShellQuote(wd)+"\n"+s.Command))
			} else {
				b.WriteString(" It runs no command of its own; see its notes in the checklist.\n")
			}
		}
		if e.TestMain != "" && len(failed) == 0 {
			b.WriteString("\nThe suite failed before its sections ran; see the TestMain output in the checklist.\n")
		}
		if e.Repro {
			fmt.Fprintf(b, "\nOr replay the run's steps: %s\n", Code("bash "+e.outPath(evidence.ReproFile)))
		}
	}
}
