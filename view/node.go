package view

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// Node is a node run (SMOKE_GPUS) as the documents read it: node.json, and each GPU's own run.
type Node struct {
	Info evidence.Node
	// GPUs are the GPUs' runs in node.json's order; one is nil when its run left nothing that
	// could be read, and Errs says why.
	GPUs []*Evidence
	Errs []string
}

// loadNode reads node.json and each GPU's run, when dir holds a node run.
func (e *Evidence) loadNode() error {
	p := filepath.Join(e.Dir, evidence.NodeFile)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	info, err := evidence.ReadNode(e.Dir)
	if err != nil {
		return err
	}
	n := &Node{Info: *info}
	for _, g := range info.GPUs {
		if strings.ContainsAny(g.Dir, `/\`) || g.Dir == ".." || g.Dir == "" {
			return fmt.Errorf("read %s: gpus: dir %q is not a directory of the node's", p, g.Dir)
		}
		var run *Evidence
		if g.ExitCode != nil || g.Error != "" {
			run, err = Load(filepath.Join(e.Dir, g.Dir))
		}
		why := ""
		switch {
		case g.Error != "":
			why = g.Error
		case err != nil:
			why = err.Error()
		}
		n.GPUs = append(n.GPUs, run)
		n.Errs = append(n.Errs, why)
	}
	e.Node = n
	return nil
}

// GPUVerdict is one GPU's verdict: its run's; NOT RUN when the node halted before the GPUs'
// runs started; FAIL when its run left nothing to read.
func (n *Node) GPUVerdict(i int) string {
	switch {
	case n.notStarted(i):
		return evidence.NotRun
	case n.GPUs[i] == nil:
		return evidence.Fail
	}
	return n.GPUs[i].Verdict()
}

// notStarted says whether the GPU's run never started: the node halted before the GPUs' runs.
func (n *Node) notStarted(i int) bool {
	g := n.Info.GPUs[i]
	return g.ExitCode == nil && g.Error == ""
}

// Label names one GPU of the node as every document does: "gpu3 (NVIDIA H200, GPU-…0203)".
func (n *Node) Label(i int) string {
	g := n.Info.GPUs[i]
	return fmt.Sprintf("%s (%s, %s)", g.Dir, g.Name, g.UUID)
}

// Failed reports whether the comparison of the node's GPUs fails it (a finding the rules
// make a failure).
func (n *Node) Failed() bool {
	for _, f := range n.Info.Findings {
		if f.Fail {
			return true
		}
	}
	return false
}

// BadGPUs are the indexes of the GPUs that failed their run or that a failing finding names.
func (n *Node) BadGPUs() []int {
	var out []int
	for i, g := range n.Info.GPUs {
		bad := n.GPUVerdict(i) == evidence.Fail || n.GPUVerdict(i) == evidence.Interrupted
		for _, f := range n.Info.Findings {
			bad = bad || f.Fail && f.GPU == g.Index
		}
		if bad {
			out = append(out, g.Index)
		}
	}
	return out
}

// Cell is one GPU's result of a section: the section of its run with that ID.
func (n *Node) Cell(i int, id string) (evidence.Section, bool) {
	if n.GPUs[i] == nil {
		return evidence.Section{}, false
	}
	for _, s := range n.GPUs[i].Sections {
		if s.ID() == id {
			return s, true
		}
	}
	return evidence.Section{}, false
}

// GPUFailure is what one GPU's run says against it, in a line: its first failure ("04-train:
// ..."), the health findings its preflight made fatal and those made while its steps ran (a
// PCIe link below its maximum), or why its run left nothing; "" when there is nothing.
func (n *Node) GPUFailure(i int) string {
	e := n.GPUs[i]
	switch {
	case n.notStarted(i):
		return "not run: the node's own sections halted before the GPUs' runs started"
	case e == nil:
		return "its run left no evidence: " + n.Errs[i]
	}
	var parts []string
	for _, f := range e.Failures() {
		parts = append(parts, f.Where+": "+strings.TrimPrefix(f.Reason, f.Where+": "))
		break
	}
	if e.Env != nil {
		for _, h := range e.Env.Fatal() {
			parts = append(parts, "health: "+h.Message)
		}
	}
	for _, h := range e.Run.Health {
		parts = append(parts, "health: "+h)
	}
	return strings.Join(parts, "; ")
}

// Computed is what the run's training computed, in brief, as the fleet report compares runs:
// the run's own; for a node run, that of a GPU of its majority (not comparable, with the
// reason, when its GPUs differ with no majority); nil when nothing trained.
func (e *Evidence) Computed() *evidence.SummaryComputed {
	group := e.ComputeGroup()
	if e.Node == nil {
		return e.Run.Computed.Brief(group)
	}
	named := map[int]bool{}
	for _, f := range e.Node.Info.Findings {
		if f.Kind != evidence.SDCGPU {
			continue
		}
		if f.GPU < 0 {
			return &evidence.SummaryComputed{Group: group, Why: "its GPUs differ with no majority: " + f.Message}
		}
		named[f.GPU] = true
	}
	for i, g := range e.Node.Info.GPUs {
		if run := e.Node.GPUs[i]; run != nil && !named[g.Index] && run.Run.Computed != nil && run.Run.Computed.Comparable {
			return run.Run.Computed.Brief(group)
		}
	}
	return nil
}

// ComputeGroup is what runs must share for their results to be compared: the GPU model, the
// driver and torch ("NVIDIA H200 141GB HBM3e, driver 550.54.15, torch 2.4.0").
func (e *Evidence) ComputeGroup() string {
	if e.Env == nil || len(e.Env.NVML.GPUs) == 0 {
		return ""
	}
	return fmt.Sprintf("%s, driver %s, torch %s", e.Env.NVML.GPUs[0].Name, e.Env.NVML.DriverVersion, e.Env.Python.Torch.Version)
}

// Named are the findings of comparing the GPUs that name GPU i ("sdc: gpu3 computes
// differently ..."), each with what it means for the node.
func (n *Node) Named(i int) []string {
	var out []string
	for _, f := range n.Info.Findings {
		if f.GPU == n.Info.GPUs[i].Index {
			word := "warning"
			if f.Fail {
				word = "fails the node"
			}
			out = append(out, fmt.Sprintf("%s (%s): %s", f.Kind, word, f.Message))
		}
	}
	return out
}
