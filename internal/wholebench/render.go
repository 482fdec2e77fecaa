package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/fleet"
	"github.com/difftrain/gpusmoke/template"
	"github.com/difftrain/gpusmoke/view"
)

// recordedRun is the recorded passing run the fleet and junit figures are made from.
const recordedRun = "checklist/testdata/runs/pass"

// renderedAt pins the "rendered at" time, as the renderer's tests do.
var renderedAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// renderedCopy copies the recorded passing run into dst and renders it from its junit.xml, as
// run-smoke does at the end of a run.
func renderedCopy(root, dst string) error {
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(root, recordedRun))); err != nil {
		return fmt.Errorf("copy %s: %w", recordedRun, err)
	}
	e, err := view.Load(dst)
	if err != nil {
		return err
	}
	_, err = checklist.Render(e, view.Options{Now: renderedAt, Template: fixtureTemplate(root)})
	return err
}

func fixtureTemplate(root string) string {
	return filepath.Join(root, "testdata", "difftrain", filepath.FromSlash(template.Rel))
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
		b, err := json.MarshalIndent(&s, "", "  ")
		if err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, evidence.SummaryFile), append(b, '\n'), 0o644); err != nil {
			return "", nil, err
		}
	}
	return job, runs, nil
}

func fleetFigure(c config, w io.Writer) (result, error) {
	fmt.Fprintf(w, "\n## the fleet report of %d runs (made from %s)\n", c.fleetRuns, recordedRun)
	renderer, err := buildChecklist(c.root)
	if err != nil {
		return result{}, err
	}
	tmp, err := os.MkdirTemp(c.tmp, "wholebench-fleet-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	if err := renderedCopy(c.root, src); err != nil {
		return result{}, err
	}
	job, runs, err := writeFleet(src, tmp, c.fleetRuns)
	if err != nil {
		return result{}, err
	}
	md := filepath.Join(tmp, "fleet.md")
	fmt.Fprintf(w, "  measured: %s fleet -o %s %s; baseline: cat of the %d run.json files to /dev/null\n", renderer, md, job, len(runs))
	baseline := func() error {
		cmd := exec.Command("cat", runs...) // to /dev/null
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("cat %s/*/run.json: %v %s", job, err, stderr.Bytes())
		}
		return nil
	}
	measured := func() error {
		cmd := exec.Command(renderer, "fleet", "-o", md, job)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 { // instances failed: the report says so and exits 1
			return fmt.Errorf("%s fleet %s: %v, want exit 1\n%s", renderer, job, err, out)
		}
		return nil
	}
	base, meas, err := pairs{N: c.n, W: w, Unit: millis, Baseline: baseline, Measured: measured}.run()
	if err != nil {
		return result{}, err
	}
	var f fleet.Report
	if b, err := os.ReadFile(fleet.JSONPath(md)); err != nil {
		return result{}, err
	} else if err := json.Unmarshal(b, &f); err != nil {
		return result{}, fmt.Errorf("read %s: %w", fleet.JSONPath(md), err)
	}
	if len(f.Instances) != c.fleetRuns {
		return result{}, fmt.Errorf("%s: %d instances, want %d", fleet.JSONPath(md), len(f.Instances), c.fleetRuns)
	}
	mb, mm := median(base), median(meas)
	fmt.Fprintf(w, "  reading run.json: %s; checklist fleet: %s; ratio %.1f; goal ≤ 5 s: %s\n", spread(base, millis), spread(meas, millis), mm.Seconds()/mb.Seconds(), met(mm <= 5*time.Second))
	return result{rows: []string{fmt.Sprintf("| the fleet report of %d runs (`checklist fleet`) | reading their run.json (cat): %s | %s | %.1f | ≤ 5 s | %s |",
		c.fleetRuns, millis(mb), millis(mm), mm.Seconds()/mb.Seconds(), met(mm <= 5*time.Second))}}, nil
}

// buildChecklist builds the renderer as make does (.bin/checklist) and returns its path.
func buildChecklist(root string) (string, error) {
	cmd := exec.Command("make", "-s", "--no-print-directory", ".bin/checklist")
	cmd.Dir, cmd.Env = root, cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make .bin/checklist: %v\n%s", err, out)
	}
	return filepath.Join(root, ".bin", "checklist"), nil
}

// testcaseRE is one <testcase> element of gotestsum's junit.xml, with its indentation.
var testcaseRE = regexp.MustCompile(`(?s)\t\t<testcase\b.*?</testcase>\n`)

// writeBigJUnit rewrites dir's junit.xml (the recorded run's) into one of n testcases, as a
// run with -count=N leaves it: the run's own testcases, then the suite's refusal of each
// section again ("already ran in this process (PASS); the runbook forbids retries", SKIPPED),
// each with its properties and its output, as gotestsum writes them, until there are n.
func writeBigJUnit(dir string, n int) error {
	p := filepath.Join(dir, evidence.JUnitFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	cases := testcaseRE.FindAll(b, -1)
	if len(cases) == 0 || len(cases) > n {
		return fmt.Errorf("%s: %d testcases, want 1 to %d", p, len(cases), n)
	}
	type prop struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	type tc struct {
		Name  string `xml:"name,attr"`
		Props []prop `xml:"properties>property"`
	}
	var refusals [][]byte
	for _, raw := range cases {
		var c tc
		if err := xml.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		get := func(name string) string {
			for _, pr := range c.Props {
				if pr.Name == name {
					return pr.Value
				}
			}
			return ""
		}
		if get("section") == "" {
			continue
		}
		reason := fmt.Sprintf("already ran in this process (%s); the runbook forbids retries", get("result"))
		attrs := [][2]string{{"section", get("section")}, {"name", get("name")}, {"result", evidence.Skipped}, {"reason", reason}}
		if cmd := get("command"); cmd != "" {
			attrs = append(attrs, [2]string{"command", cmd})
		}
		attrs = append(attrs, [2]string{"warnings", "0"}, [2]string{"nan_lines", "0"})
		var out strings.Builder
		fmt.Fprintf(&out, "=== RUN   %s\n    suite.go:185: %s\n", c.Name, reason)
		for _, a := range attrs {
			fmt.Fprintf(&out, "=== ATTR  %s %s %s\n", c.Name, a[0], a[1])
		}
		fmt.Fprintf(&out, "--- SKIP: %s (0.00s)\n", c.Name)
		sorted := slices.Clone(attrs)
		slices.SortFunc(sorted, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		var e bytes.Buffer
		fmt.Fprintf(&e, "\t\t<testcase classname=\"smoke\" name=\"%s\" time=\"0.000000\">\n\t\t\t<properties>\n", attr(c.Name))
		for _, a := range sorted {
			fmt.Fprintf(&e, "\t\t\t\t<property name=\"%s\" value=\"%s\"></property>\n", attr(a[0]), attr(a[1]))
		}
		fmt.Fprintf(&e, "\t\t\t</properties>\n\t\t\t<skipped message=\"%s\"></skipped>\n\t\t</testcase>\n", attr(out.String()))
		refusals = append(refusals, e.Bytes())
	}
	if len(refusals) == 0 {
		return fmt.Errorf("%s: no testcase of a section", p)
	}
	first := bytes.Index(b, cases[0])
	last := bytes.LastIndex(b, cases[len(cases)-1]) + len(cases[len(cases)-1])
	var out bytes.Buffer
	head := string(b[:first])
	head = regexp.MustCompile(`tests="\d+"`).ReplaceAllString(head, fmt.Sprintf(`tests="%d"`, n))
	head = regexp.MustCompile(`skipped="\d+"`).ReplaceAllStringFunc(head, func(s string) string {
		var k int
		fmt.Sscanf(s, `skipped="%d"`, &k)
		return fmt.Sprintf(`skipped="%d"`, k+n-len(cases))
	})
	out.WriteString(head)
	out.Write(b[first:last])
	for i := range n - len(cases) {
		out.Write(refusals[i%len(refusals)])
	}
	out.Write(b[last:])
	return os.WriteFile(p, out.Bytes(), 0o644)
}

// attr escapes s for an XML attribute as gotestsum's encoding/xml does.
func attr(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func junitFigure(c config, w io.Writer) (result, error) {
	fmt.Fprintf(w, "\n## the checklist for a JUnit of %d testcases (made from %s)\n", c.junitCases, recordedRun)
	renderer, err := buildChecklist(c.root)
	if err != nil {
		return result{}, err
	}
	tmp, err := os.MkdirTemp(c.tmp, "wholebench-junit-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "run")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(c.root, recordedRun))); err != nil {
		return result{}, fmt.Errorf("copy %s: %w", recordedRun, err)
	}
	if err := writeBigJUnit(dir, c.junitCases); err != nil {
		return result{}, err
	}
	// Sealed with the new junit.xml, as a run of -count=N would have been, for the CLI's run.
	if err := evidence.WriteSums(dir); err != nil {
		return result{}, err
	}
	junit := filepath.Join(dir, evidence.JUnitFile)
	st, err := os.Stat(junit)
	if err != nil {
		return result{}, err
	}
	fmt.Fprintf(w, "  %s: %s\n", junit, mib(st.Size()))
	opts := view.Options{Now: renderedAt, Template: fixtureTemplate(c.root)}

	fmt.Fprintln(w, "  view.Load + checklist.Render (in this process), against os.ReadFile of junit.xml:")
	base, meas, err := pairs{N: c.n, W: w, Unit: millis,
		Baseline: func() error { _, err := os.ReadFile(junit); return err },
		Measured: func() error {
			e, err := view.Load(dir)
			if err != nil {
				return err
			}
			res, err := checklist.Render(e, opts)
			if err == nil && res.Verdict != evidence.Pass {
				return fmt.Errorf("%s: rendered %s, want PASS", dir, res.Verdict)
			}
			return err
		}}.run()
	if err != nil {
		return result{}, err
	}
	mb, mm := median(base), median(meas)
	fmt.Fprintf(w, "  reading: %s; Load + Render: %s; goal ≤ 0.5 s: %s\n", spread(base, millis), spread(meas, millis), met(mm <= 500*time.Millisecond))
	rows := []string{fmt.Sprintf("| the checklist for a JUnit of %d testcases (`checklist.Load` + `Render`) | reading the file (os.ReadFile): %s | %s | %.0f | ≤ 0.5 s | %s |",
		c.junitCases, millis(mb), millis(mm), mm.Seconds()/mb.Seconds(), met(mm <= 500*time.Millisecond))}

	fmt.Fprintf(w, "  %s -exit-verdict %s (the whole command: seal checked, rendered, log tails, sealed again), against cat of junit.xml:\n", renderer, dir)
	base, meas, err = pairs{N: c.n, W: w, Unit: millis,
		Baseline: func() error { return exec.Command("cat", junit).Run() },
		Measured: func() error {
			if out, err := exec.Command(renderer, "-exit-verdict", dir).CombinedOutput(); err != nil {
				return fmt.Errorf("%s -exit-verdict %s: %v\n%s", renderer, dir, err, out)
			}
			return nil
		}}.run()
	if err != nil {
		return result{}, err
	}
	mb, mm = median(base), median(meas)
	fmt.Fprintf(w, "  cat: %s; checklist: %s; goal ≤ 0.5 s: %s\n", spread(base, millis), spread(meas, millis), met(mm <= 500*time.Millisecond))
	rows = append(rows, fmt.Sprintf("| the same, as the command `checklist -exit-verdict DIR` | reading the file (cat): %s | %s | %.0f | ≤ 0.5 s | %s |",
		millis(mb), millis(mm), mm.Seconds()/mb.Seconds(), met(mm <= 500*time.Millisecond)))
	return result{rows: rows}, nil
}
