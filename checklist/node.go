package checklist

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// A node run's documents are a run's (its own sections are the worst of its GPUs') with the
// GPUs added: the checklist's table of sections × GPUs, the report's GPUs that failed or stand
// out, summary.json's and smoke.prom's entry per GPU, and a JUnit testsuite per GPU.

// writeNodeTable writes the checklist's sections × GPUs table: each cell a GPU's result.
func writeNodeTable(b *bytes.Buffer, e *view.Evidence) {
	n := e.Node
	if n == nil {
		return
	}
	b.WriteString("\n## GPUs\n\n")
	cols := []string{"Section"}
	for i := range n.Info.GPUs {
		cols = append(cols, n.Info.GPUs[i].Dir)
	}
	b.WriteString(view.Header(cols...))
	for _, s := range e.Sections {
		row := []string{view.Text(s.ID())}
		for i := range n.Info.GPUs {
			cell := "—"
			if sec, ok := n.Cell(i, s.ID()); ok {
				cell = view.ResultCell(sec.Result)
			}
			row = append(row, cell)
		}
		b.WriteString(view.Row(row...) + "\n")
	}
	row := []string{"**verdict**"}
	for i := range n.Info.GPUs {
		row = append(row, view.ResultCell(n.GPUVerdict(i)))
	}
	b.WriteString(view.Row(row...) + "\n\n")
	for i, g := range n.Info.GPUs {
		fmt.Fprintf(b, "- %s: %s, evidence %s\n", view.Text(n.Label(i)), trainFigures(g), view.Code(e.OutPath(g.Dir+"/")))
	}
	writeNodeFindings(b, e)
}

// trainFigures is a GPU's training time and step rate, as the slow-GPU rule read them.
func trainFigures(g evidence.NodeGPU) string {
	if g.TrainSeconds == 0 {
		return "no training time recorded"
	}
	s := fmt.Sprintf("training %.1f s", g.TrainSeconds)
	if g.StepsPerSecond > 0 {
		s += fmt.Sprintf(", %.2f steps/s", g.StepsPerSecond)
	}
	return s
}

// writeNodeFindings lists what comparing the GPUs found.
func writeNodeFindings(b *bytes.Buffer, e *view.Evidence) {
	n := e.Node
	b.WriteString("\nCompared across the GPUs: ")
	if n.Info.Compared != "" {
		b.WriteString(view.Text(n.Info.Compared) + ".\n")
	} else {
		b.WriteString("nothing (no comparison recorded).\n")
	}
	for _, f := range n.Info.Findings {
		word := "warning"
		if f.Fail {
			word = "**fails the node**"
		}
		fmt.Fprintf(b, "- %s (%s): %s\n", view.Text(f.Kind), word, view.Text(f.Message))
	}
}

// writeNodeReport writes the report's GPUs: each failing GPU with its section and cause, then
// what comparing them found.
func writeNodeReport(b *bytes.Buffer, e *view.Evidence) {
	n := e.Node
	if n == nil {
		return
	}
	bad := n.BadGPUs()
	fmt.Fprintf(b, "\n## GPUs\n\n%d of %s failed.\n\n", len(bad), view.Plural(len(n.Info.GPUs), "GPU"))
	for i := range n.Info.GPUs {
		v := n.GPUVerdict(i)
		line := fmt.Sprintf("- %s: %s", view.Text(n.Label(i)), view.ResultCell(v))
		why := n.Named(i)
		if f := n.GPUFailure(i); f != "" {
			why = append([]string{f}, why...)
		}
		if len(why) > 0 {
			line += " — " + view.Text(strings.Join(why, "; "))
		}
		b.WriteString(line + "\n")
	}
	writeNodeFindings(b, e)
}

// nodeSummary is summary.json's node: each GPU's verdict and first failure, and the findings.
func nodeSummary(e *view.Evidence) *evidence.SummaryNode {
	n := e.Node
	if n == nil {
		return nil
	}
	s := &evidence.SummaryNode{GPUs: []evidence.SummaryNodeGPU{}, Findings: n.Info.Findings, BadGPUs: len(n.BadGPUs())}
	if s.Findings == nil {
		s.Findings = []evidence.NodeFinding{}
	}
	bad := n.BadGPUs()
	for i, g := range n.Info.GPUs {
		sg := evidence.SummaryNodeGPU{Index: g.Index, UUID: g.UUID, Name: g.Name, Dir: g.Dir, Verdict: n.GPUVerdict(i),
			Bad: slices.Contains(bad, g.Index), TrainSeconds: g.TrainSeconds}
		sg.Reason = n.GPUFailure(i)
		if run := n.GPUs[i]; run != nil {
			for _, f := range run.Failures() {
				sg.FirstFailure = &evidence.SummarySection{ID: f.Where, Result: f.Result, Reason: f.Reason}
				break
			}
		}
		s.GPUs = append(s.GPUs, sg)
	}
	return s
}
