package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/fleet"
	"github.com/difftrain/gpusmoke/junit"
	"github.com/difftrain/gpusmoke/template"
	"github.com/difftrain/gpusmoke/view"
)

// recordedRun is the recorded passing run the fleet and junit figures are made from.
const recordedRun = "checklist/testdata/runs/pass"

// renderOpts pin the "rendered at" time, as the renderer's tests do, and fill the fixture's template.
func renderOpts(root string) view.Options {
	return view.Options{Now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		Template: filepath.Join(root, "testdata", "difftrain", filepath.FromSlash(template.Rel))}
}

// copyRecorded copies the recorded passing run into dst.
func copyRecorded(root, dst string) error {
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(root, recordedRun))); err != nil {
		return fmt.Errorf("copy %s: %w", recordedRun, err)
	}
	return nil
}

// loadAndRender renders the evidence directory dir from its junit.xml, as run-smoke does at
// the end of a run, and wants a PASS.
func loadAndRender(dir string, opts view.Options) error {
	e, err := view.Load(dir)
	if err != nil {
		return err
	}
	res, err := checklist.Render(e, opts)
	if err == nil && res.Verdict != evidence.Pass {
		return fmt.Errorf("%s: rendered %s, want PASS", dir, res.Verdict)
	}
	return err
}

// buildChecklist builds the renderer as make does (.bin/checklist) and returns its path.
func buildChecklist(root string) (string, error) {
	return filepath.Join(root, ".bin", "checklist"), makeTargets(root, ".bin/checklist")
}

// writeFleet writes n evidence directories under root/job, each with the recorded run's
// run.json and a summary.json made from its own: host gpu-node-NNNN; every 10th failed its
// training with an Xid 79 that names the node, its PCI bus and its log; every 50th (the 26th,
// 76th, ...) was interrupted after a number of seconds that differs; every 97th has its run.json
// but no summary.json (it never reached its end). It returns the directory and the run.json
// paths.
func writeFleet(src, root string, n int) (string, []string, error) {
	base, err := evidence.ReadSummary(src)
	if err != nil {
		return "", nil, err
	}
	runJSON, err := os.ReadFile(filepath.Join(src, evidence.RunFile))
	if err != nil {
		return "", nil, err
	}
	job := filepath.Join(root, "job")
	var runs []string
	for i := range n {
		node := fmt.Sprintf("gpu-node-%04d", i)
		dir := filepath.Join(job, node)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		p := filepath.Join(dir, evidence.RunFile)
		if err := os.WriteFile(p, runJSON, 0o644); err != nil {
			return "", nil, err
		}
		runs = append(runs, p)
		if i%97 == 96 {
			continue
		}
		s := *base
		s.Host, s.Out = node+".cluster", "/shared/job/"+node
		s.Sections = slices.Clone(base.Sections)
		train := slices.IndexFunc(s.Sections, func(x evidence.SummarySection) bool { return x.ID == "04-train" })
		if train < 0 {
			return "", nil, fmt.Errorf("%s: no section 04-train", filepath.Join(src, evidence.SummaryFile))
		}
		switch {
		case i%10 == 9:
			s.Verdict, s.ExitCode = evidence.Fail, 1
			s.FirstFailure = &evidence.SummarySection{ID: "04-train", Result: evidence.Fail,
				Reason: fmt.Sprintf("04-train: Xid 79 (PCI:0000:%02x:00.0) on %s: GPU has fallen off the bus; log: %s/logs/04-train.log", i%256, node, s.Out)}
			s.Sections[train] = *s.FirstFailure
		case i%50 == 25:
			s.Verdict, s.ExitCode = evidence.Interrupted, 1
			s.FirstFailure = &evidence.SummarySection{ID: "04-train", Result: evidence.Interrupted,
				Reason: fmt.Sprintf("04-train: interrupted after %ds", i%60)}
			s.Sections[train] = *s.FirstFailure
		}
		if err := evidence.WriteSummary(dir, &s, nil); err != nil {
			return "", nil, err
		}
	}
	return job, runs, nil
}

// fleetSides measures `checklist fleet` over the fleet against cat of its run.json files.
func fleetSides(b *bench, dir string) (*sides, error) {
	renderer, err := buildChecklist(b.root)
	if err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "src")
	if err := copyRecorded(b.root, src); err != nil {
		return nil, err
	}
	if err := loadAndRender(src, renderOpts(b.root)); err != nil { // its summary.json
		return nil, err
	}
	job, runs, err := writeFleet(src, dir, b.fleetRuns)
	if err != nil {
		return nil, err
	}
	md := filepath.Join(dir, "fleet.md")
	fmt.Fprintf(b.w, "  measured: %s fleet -o %s %s; baseline: cat of the %d run.json files to /dev/null\n", renderer, md, job, len(runs))
	return &sides{
		baseline: func() error { return command(nil, 0, append([]string{"cat"}, runs...)...) },
		// Instances failed: the report says so, and exits 1.
		measured: func() error { return command(nil, 1, renderer, "fleet", "-o", md, job) },
		after: func(measured bool) error {
			var f fleet.Report
			if !measured {
				return nil
			} else if err := evidence.ReadJSON(fleet.JSONPath(md), &f, evidence.MaxRunBytes); err != nil {
				return err
			} else if len(f.Instances) != b.fleetRuns {
				return fmt.Errorf("%s: %d instances, want %d", fleet.JSONPath(md), len(f.Instances), b.fleetRuns)
			}
			return nil
		},
	}, nil
}

// writeBigJUnit rewrites dir's junit.xml (the recorded run's) into one of n testcases, as a
// run with -count=N leaves it: the run's own testcases, then the suite's refusal of each
// section again, until there are n.
func writeBigJUnit(dir string, n int) error {
	p := filepath.Join(dir, evidence.JUnitFile)
	d, err := junit.Read(p, view.MaxJUnitBytes)
	if err != nil {
		return err
	}
	if len(d.Suites) != 1 || len(d.Suites[0].Cases) > n {
		return fmt.Errorf("%s: want one testsuite of at most %d testcases", p, n)
	}
	suite := d.Suites[0]
	var refusals []*junit.Case
	for _, c := range suite.Cases {
		s, ok, err := evidence.SectionFromProperties(c.Props())
		if err != nil {
			return fmt.Errorf("read %s: testcase %s: %w", p, c.Name, err)
		}
		if ok {
			refusals = append(refusals, refusal(c.Name, s))
		}
	}
	if len(refusals) == 0 {
		return fmt.Errorf("%s: no testcase of a section", p)
	}
	more := n - len(suite.Cases)
	for i := range more {
		suite.Cases = append(suite.Cases, refusals[i%len(refusals)])
	}
	for _, a := range []struct {
		attrs []xml.Attr
		name  string
	}{{d.Attrs, "tests"}, {suite.Attrs, "tests"}, {suite.Attrs, "skipped"}} {
		if i := slices.IndexFunc(a.attrs, func(x xml.Attr) bool { return x.Name.Local == a.name }); i >= 0 {
			var k int
			fmt.Sscan(a.attrs[i].Value, &k)
			a.attrs[i].Value = fmt.Sprint(k + more)
		}
	}
	b, err := d.Encode()
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return os.WriteFile(p, b, 0o644)
}

// refusal is the testcase gotestsum writes for the suite's refusal to run section s (test
// name) again under go test -count=N: SKIPPED, with its properties and its output.
func refusal(name string, s evidence.Section) *junit.Case {
	r := evidence.Section{Section: s.Section, Name: s.Name, Result: evidence.Skipped, Command: s.Command,
		Reason: fmt.Sprintf("already ran in this process (%s); the runbook forbids retries", s.Result)}
	c := &junit.Case{Classname: "smoke", Name: name, Attrs: []xml.Attr{{Name: xml.Name{Local: "time"}, Value: "0.000000"}},
		Properties: &junit.Props{}}
	out := fmt.Sprintf("=== RUN   %s\n    suite.go:271: %s\n", name, r.Reason)
	for _, kv := range r.Properties() {
		out += fmt.Sprintf("=== ATTR  %s %s %s\n", name, kv[0], kv[1])
		c.Properties.Property = append(c.Properties.Property, junit.Property{Name: kv[0], Value: kv[1]})
	}
	slices.SortFunc(c.Properties.Property, func(a, b junit.Property) int { return strings.Compare(a.Name, b.Name) })
	c.Skipped = []junit.Message{{Message: out + fmt.Sprintf("--- SKIP: %s (0.00s)\n", name)}}
	return c
}

// junitSides measures view.Load and checklist.Render of a junit.xml of junitCases testcases
// against os.ReadFile of it, or, for the command, `checklist render -exit-verdict` against cat.
func junitSides(cli bool) func(*bench, string) (*sides, error) {
	return func(b *bench, dir string) (*sides, error) {
		run := filepath.Join(dir, "run")
		if err := copyRecorded(b.root, run); err != nil {
			return nil, err
		}
		if err := writeBigJUnit(run, b.junitCases); err != nil {
			return nil, err
		}
		p := filepath.Join(run, evidence.JUnitFile)
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(b.w, "  %s: %s\n", p, mib(st.Size()))
		}
		if !cli {
			return &sides{
				baseline: func() error { _, err := os.ReadFile(p); return err },
				measured: func() error { return loadAndRender(run, renderOpts(b.root)) },
			}, nil
		}
		// Sealed with the new junit.xml, as a run of -count=N would have been.
		if err := evidence.WriteSums(run); err != nil {
			return nil, err
		}
		renderer, err := buildChecklist(b.root)
		if err != nil {
			return nil, err
		}
		return &sides{
			baseline: func() error { return command(nil, 0, "cat", p) },
			measured: func() error { return command(nil, 0, renderer, "render", "-exit-verdict", run) },
		}, nil
	}
}
