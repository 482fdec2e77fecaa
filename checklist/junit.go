package checklist

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/junit"
	"github.com/difftrain/gpusmoke/view"
)

// RewriteJUnit makes gotestsum's junit.xml what CI needs to show a run: testcases in the plan's
// order (gotestsum groups them failed, skipped, passed), each failure's message its one-line
// reason (gotestsum writes "Failed") and its log's last lines as <system-out> (gotestsum writes
// none), and no property that says nothing (an empty value). Rewriting again changes nothing.
func RewriteJUnit(e *view.Evidence) error {
	p := filepath.Join(e.Dir, evidence.JUnitFile)
	doc, err := junit.Read(p, view.MaxJUnitBytes)
	if err != nil {
		return err
	}
	rank := map[string]int{} // a section's test → its place in the plan
	records := map[string]evidence.Section{}
	for i, s := range e.Sections {
		if s.Test != "" {
			rank[s.Test], records[s.Test] = i, s
		}
	}
	for _, s := range doc.Suites {
		s.Properties = slices.DeleteFunc(s.Properties, func(p junit.Property) bool { return p.Value == "" })
		for _, c := range s.Cases {
			explain(e, c, records)
		}
		order := func(c *junit.Case) int {
			top, _, _ := strings.Cut(c.Name, "/")
			if r, ok := rank[top]; ok {
				return r
			}
			return len(rank) // TestMain and tests that are no section: last
		}
		slices.SortStableFunc(s.Cases, func(a, b *junit.Case) int { return cmp.Compare(order(a), order(b)) })
	}
	if e.Node != nil {
		splitByGPU(doc, e.Node)
	}
	b, err := doc.Encode()
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", p, err)
	}
	if err := evidence.WriteFileAtomic(p, b, 0o644); err != nil {
		return fmt.Errorf("rewrite %s: %w", p, err)
	}
	return nil
}

// splitByGPU gives each GPU of a node run its own testsuite ("smoke/gpu3"), which takes that
// GPU's subtests of the sections ("Test04Train/gpu3"), so that CI shows each GPU's sections
// apart; the node's own testcases stay where they are.
func splitByGPU(doc *junit.Doc, n *view.Node) {
	for _, s := range slices.Clone(doc.Suites) {
		byGPU := map[string][]*junit.Case{}
		var keep []*junit.Case
		for _, c := range s.Cases {
			_, sub, _ := strings.Cut(c.Name, "/")
			gpu, _, _ := strings.Cut(sub, "/")
			if slices.ContainsFunc(n.Info.GPUs, func(g evidence.NodeGPU) bool { return g.Dir == gpu }) {
				byGPU[gpu] = append(byGPU[gpu], c)
			} else {
				keep = append(keep, c)
			}
		}
		s.Cases = keep
		countCases(s)
		for _, g := range n.Info.GPUs {
			if cases := byGPU[g.Dir]; len(cases) > 0 {
				gs := &junit.Suite{Properties: slices.Clone(s.Properties), Cases: cases}
				gs.Attrs = []xml.Attr{{Name: xml.Name{Local: "name"}, Value: suiteName(s) + "/" + g.Dir}}
				countCases(gs)
				doc.Suites = append(doc.Suites, gs)
			}
		}
	}
}

func suiteName(s *junit.Suite) string {
	for _, a := range s.Attrs {
		if a.Name.Local == "name" {
			return a.Value
		}
	}
	return "smoke"
}

// countCases sets a suite's tests, failures, errors and skipped to what its cases are.
func countCases(s *junit.Suite) {
	n := map[string]int{"tests": len(s.Cases)}
	for _, c := range s.Cases {
		switch {
		case len(c.Failure) > 0:
			n["failures"]++
		case len(c.Error) > 0:
			n["errors"]++
		case len(c.Skipped) > 0:
			n["skipped"]++
		}
	}
	for _, k := range []string{"tests", "failures", "errors", "skipped"} {
		v := strconv.Itoa(n[k])
		i := slices.IndexFunc(s.Attrs, func(a xml.Attr) bool { return a.Name.Local == k })
		if i < 0 {
			s.Attrs = append(s.Attrs, xml.Attr{Name: xml.Name{Local: k}, Value: v})
		} else {
			s.Attrs[i].Value = v
		}
	}
}

// explain gives a failed or skipped testcase the message CI shows: a section's reason (with, for
// a failure, its log's last lines as <system-out>), or a pytest case's. gotestsum writes
// "Failed", and a skip's whole output, instead.
func explain(e *view.Evidence, c *junit.Case, records map[string]evidence.Section) {
	s, isSection := records[c.Name]
	isSection = isSection && c.Props()[evidence.PropSection] != ""
	if len(c.Skipped) > 0 && isSection && s.Reason != "" {
		c.Skipped[0].Message = s.Reason
	}
	if len(c.Failure) == 0 {
		return
	}
	if isSection {
		c.Failure[0].Message = cmpOr(s.Reason, c.Failure[0].Message)
		if s.Log != "" && c.SystemOut == "" {
			if tail, err := evidence.Tail(filepath.Join(e.Dir, filepath.FromSlash(s.Log)), evidence.TailLines); err == nil {
				c.SystemOut = fmt.Sprintf("--- last %d lines of %s ---\n%s\n", evidence.TailLines, s.Log, tail)
			}
		}
		return
	}
	if r := c.Props()[evidence.PropReason]; r != "" && c.Props()[evidence.PropCase] != "" {
		c.Failure[0].Message = r
	}
}
