package fleet

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/sdc"
	"github.com/difftrain/gpusmoke/view"
)

// A fleet of node runs (SMOKE_GPUS) is read GPU by GPU: each bad GPU is a failure of its own,
// grouped by reason with the other nodes' ("n1/gpu3"), the report counts the bad GPUs and draws
// the nodes × GPUs table; and the runs' results are compared across nodes of one GPU model,
// driver and torch, as a node compares its GPUs (sdc).

// failure is one failed thing an instance holds: the instance itself, or one GPU of a node run.
type failure struct {
	name, verdict, section, reason string
	gpu                            bool
}

// failures are the instance's failures: one per bad GPU of a node run whose GPUs failed, else
// the instance's first failure (failureKey).
func failures(in Instance, missing string) []failure {
	var out []failure
	if in.Node != nil {
		for _, g := range in.Node.GPUs {
			if !g.Bad {
				continue
			}
			f := failure{name: in.Name + "/" + g.Dir, verdict: evidence.Fail, gpu: true, reason: normaliseReason(g.Reason, in)}
			if g.FirstFailure != nil {
				f.section, f.reason = g.FirstFailure.ID, normaliseReason(reasonText(g.FirstFailure), in)
			}
			for _, nf := range in.Node.Findings {
				if nf.Fail && nf.GPU == g.Index && f.section == "" {
					f.reason = normaliseReason(nf.Kind+": "+nf.Message, in)
				}
			}
			out = append(out, f)
		}
	}
	if len(out) > 0 {
		return out
	}
	sec, reason := failureKey(in, missing)
	return []failure{{name: in.Name, verdict: in.Verdict, section: sec, reason: reason}}
}

// compareResults compares the instances' results within each group of GPU model, driver and
// torch (sdc.Compare) and applies SMOKE_SDC's rule (sdc.Decide): a node that computes
// differently from its group's majority is flagged, and fails the fleet when the rule says so.
func (f *Report) compareResults(mode string) {
	byGroup := map[string][]sdc.Member{}
	var groups []string
	for _, in := range f.Instances {
		if in.Computed == nil || in.Computed.Group == "" {
			continue
		}
		g := in.Computed.Group
		if byGroup[g] == nil {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], in.Computed.Member(in.Name))
	}
	for _, g := range groups {
		r := sdc.Compare(byGroup[g])
		d := sdc.Decide(r, mode)
		c := Compared{Group: g, Fail: d.Fail, Warn: d.Warn, Say: d.Say}
		for _, o := range r.Outliers {
			c.Differ = append(c.Differ, o.Name)
		}
		f.Compared = append(f.Compared, c)
	}
}

// Compared is what comparing one group's results found.
type Compared struct {
	Group string `json:"group"` // the GPU model, driver and torch the runs share
	Say   string `json:"say"`
	// Differ are the instances whose results differ from the group's majority.
	Differ []string `json:"differ,omitempty"`
	Fail   bool     `json:"fail"` // it fails the fleet (SMOKE_SDC's rule)
	Warn   bool     `json:"warn"`
}

// writeNodes writes, when the fleet holds node runs, how many GPUs were bad and the nodes ×
// GPUs table, each cell a GPU's verdict.
func writeNodes(b *bytes.Buffer, f *Report) {
	var nodes []Instance
	width := 0
	for _, in := range f.Instances {
		if in.Node != nil {
			nodes = append(nodes, in)
			width = max(width, len(in.Node.GPUs))
		}
	}
	if len(nodes) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Nodes × GPUs\n\nBad GPUs: %d of %s on %s.\n\n", f.BadGPUs, view.Plural(f.GPUs, "GPU"), view.Plural(len(nodes), "node run"))
	cols := []string{"Node"}
	for i := range width {
		cols = append(cols, fmt.Sprint(i+1))
	}
	b.WriteString(view.Header(cols...))
	for _, in := range nodes {
		cells := []string{instanceLink(in)}
		for i := range width {
			cell := ""
			if i < len(in.Node.GPUs) {
				g := in.Node.GPUs[i]
				cell = view.Text(g.Dir) + " " + view.ResultCell(g.Verdict)
				if g.Bad && g.Verdict == evidence.Pass {
					cell += " (named)"
				}
			}
			cells = append(cells, cell)
		}
		b.WriteString(view.Row(cells...) + "\n")
	}
}

// writeCompared writes what comparing the results across nodes found, group by group.
func writeCompared(b *bytes.Buffer, f *Report) {
	if len(f.Compared) == 0 {
		return
	}
	b.WriteString("\n## Results compared across instances\n\n")
	for _, c := range f.Compared {
		word := "agree or not compared"
		switch {
		case c.Fail:
			word = "**fails the fleet**"
		case c.Warn:
			word = "warning"
		}
		line := fmt.Sprintf("- %s (%s): %s", view.Text(c.Group), word, view.Text(c.Say))
		if len(c.Differ) > 0 {
			line += " — computes differently: " + view.Text(strings.Join(c.Differ, ", "))
		}
		b.WriteString(line + "\n")
	}
}

// countGPUs sets the fleet's GPU counts from its node runs.
func (f *Report) countGPUs() {
	for _, in := range f.Instances {
		if in.Node != nil {
			f.GPUs += len(in.Node.GPUs)
			f.BadGPUs += in.Node.BadGPUs
		}
	}
	f.Compared = slices.Clip(f.Compared)
}
