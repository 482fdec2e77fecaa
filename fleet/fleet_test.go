package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/benchratio"
	"github.com/difftrain/gpusmoke/internal/mdtest"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
	"gotest.tools/v3/golden"
)

// recordedFleet is a fleet of 8 nodes made of recorded runs, as a Slurm job leaves it: one
// evidence directory per node under one directory. node2 and node4 failed the same way, node8
// never reached its end (no summary.json), node7 ran three sections alone.
func recordedFleet(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "job-42")
	for node, name := range map[string]string{
		"node1": "pass", "node2": "fail", "node3": "fakegpu", "node4": "fail",
		"node5": "crash-oom", "node6": "interrupted", "node7": "run-alone", "node8": "tracked-change",
	} {
		renderInto(t, name, filepath.Join(root, node))
	}
	if err := os.Remove(filepath.Join(root, "node8", evidence.SummaryFile)); err != nil {
		t.Fatal(err)
	}
	// What else a job directory holds is not an instance.
	for _, f := range []string{"node1.exit", ".write-probe"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The fleet report of recorded runs: fleet.md and fleet.json against their goldens (go test
// ./checklist -update rewrites them), and what they must say whatever the goldens hold.
func TestFleetGoldens(t *testing.T) {
	root := recordedFleet(t)
	instances, err := Dir(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range instances {
		names = append(names, in.Name)
	}
	if want := []string{"node1", "node2", "node3", "node4", "node5", "node6", "node7", "node8"}; !slices.Equal(names, want) {
		t.Fatalf("instances %q, want %q", names, want)
	}
	md := filepath.Join(root, File)
	f, written, err := Write(md, instances, view.Options{Now: recorded.RenderedAt})
	if err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(root, "fleet.json")
	if !slices.Equal(written, []string{md, js}) {
		t.Errorf("written %q", written)
	}
	mdText, jsText := string(recorded.ReadFile(t, md)), string(recorded.ReadFile(t, js))
	mdtest.CheckTables(t, "fleet.md", mdText)
	golden.Assert(t, mdText, "fleet.md.golden")
	golden.Assert(t, jsText, "fleet.json.golden")

	if f.Verdict != evidence.Fail || f.ExitCode != 1 {
		t.Errorf("fleet verdict %s, exit code %d; want FAIL, 1", f.Verdict, f.ExitCode)
	}
	wantCounts := map[string]int{"PASS": 2, "FAIL": 3, "INTERRUPTED": 1, "INCOMPLETE": 1, "MISSING": 1}
	if !reflect.DeepEqual(f.Counts, wantCounts) {
		t.Errorf("counts %v, want %v", f.Counts, wantCounts)
	}
	type group struct{ verdict, section, reason, nodes string }
	var groups []group
	for _, g := range f.Failures {
		groups = append(groups, group{g.Verdict, g.Section, g.Reason, strings.Join(g.Instances, " ")})
	}
	wantGroups := []group{
		{"FAIL", "04-train", "exit code 1: RuntimeError: injected failure (FIXTURE_FAIL)", "node2 node4"},
		{"FAIL", "04-train", "exit code 1: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate {n} MiB (GPU 0; {n} GiB total capacity; {n} GiB already allocated; {n} MiB free; {n} GiB reserved in total by PyTorch)", "node5"},
		{"INTERRUPTED", "04-train", "interrupted after {n}s", "node6"},
		{"MISSING", "", "no {out}/summary.json: the run did not end, or was never rendered", "node8"},
	}
	if !reflect.DeepEqual(groups, wantGroups) {
		t.Errorf("failure groups:\n%q\nwant\n%q", groups, wantGroups)
	}
	for _, want := range []string{
		"- **2 instances** FAIL in `04-train`: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL) — node2, node4\n",
		"| [node2](node2/checklist.md) | vm | no GPU | — | **FAIL** | `04-train` | exit code 1: RuntimeError: injected failure (FIXTURE_FAIL) | — |\n",
		"| [node3](node3/checklist.md) | vm | NVIDIA GeForce RTX 4090 | ",
		"| node8 | — | — | — | **MISSING** | — | no node8/summary.json: the run did not end, or was never rendered | — |\n",
		"| 04-train | PASS | **FAIL** | PASS | **FAIL** | **FAIL** | **INTERRUPTED** | NOT RUN | — |\n",
	} {
		if !strings.Contains(mdText, want) {
			t.Errorf("fleet.md lacks %q", want)
		}
	}
	// Said once, not once per instance.
	if n := strings.Count(mdText, "FIXTURE RUNS"); n != 1 {
		t.Errorf("fleet.md says FIXTURE RUNS %d times, want once", n)
	}
	if !strings.Contains(mdText, "> **FIXTURE RUNS:** 7 of 8 instances (node1, node2, node3, node4, node5, node6, node7) ran the bundled stand-in") {
		t.Errorf("fleet.md's fixture banner does not count 7 of 8 instances")
	}

	var read Report
	if err := evidence.ReadJSON(js, &read, 256<<20); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&read, f) {
		t.Error("fleet.json read back differs from the fleet written")
	}
}

// With NODE... the report covers exactly those nodes, in that order: one that left no
// directory at all is MISSING too, and a directory not named is left out.
func TestFleetNamedNodes(t *testing.T) {
	root := recordedFleet(t)
	instances, err := Dir(root, []string{"node3", "node1", "node10"})
	if err != nil {
		t.Fatal(err)
	}
	f := Build(instances, root, "")
	var got []string
	for _, in := range f.Instances {
		got = append(got, in.Name+" "+in.Verdict+" "+in.MissingReason)
	}
	want := []string{"node3 PASS ", "node1 PASS ", "node10 MISSING no evidence directory node10"}
	if !slices.Equal(got, want) {
		t.Errorf("instances %q, want %q", got, want)
	}
	if f.ExitCode != 1 || len(f.Failures) != 1 || f.Failures[0].Reason != "no evidence directory {out}" {
		t.Errorf("exit code %d, failures %+v", f.ExitCode, f.Failures)
	}
	for _, bad := range [][]string{{"../x"}, {"a/b"}, {""}, {"n1", "n1"}} {
		if _, err := Dir(root, bad); err == nil {
			t.Errorf("Dir(%q): no error", bad)
		}
	}
	if _, err := Dir(filepath.Join(root, "node1.exit"), nil); err == nil || !strings.Contains(err.Error(), "node1.exit is not a directory") {
		t.Errorf("a file as the fleet directory: %v", err)
	}
	if _, err := Dir(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "holds no evidence directories") {
		t.Errorf("an empty fleet directory: %v", err)
	}
}

// A summary.json that cannot be read makes its instance MISSING with the error, which names
// the file; the other instances are reported as usual.
func TestFleetUnreadableSummary(t *testing.T) {
	root := t.TempDir()
	renderInto(t, "pass", filepath.Join(root, "a"))
	for name, body := range map[string]string{
		"truncated":  `{"schema_version": 2, "verdict": "PA`,
		"no-verdict": `{"schema_version": 2}`,
		"not-object": `[1, 2]`,
	} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, evidence.SummaryFile), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	instances, err := Dir(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := Build(instances, root, "")
	if f.Counts[evidence.Missing] != 3 || f.Counts[evidence.Pass] != 1 || f.ExitCode != 1 {
		t.Fatalf("counts %v, exit code %d", f.Counts, f.ExitCode)
	}
	for _, in := range f.Instances {
		if in.Verdict == evidence.Missing && !strings.HasPrefix(in.MissingReason, "read "+in.Name+"/"+evidence.SummaryFile+": ") {
			t.Errorf("%s: reason %q does not name its summary.json", in.Name, in.MissingReason)
		}
	}
}

// Two or more directories given one by one (make checklist RUNS="a b") are named by their base
// names, or by their paths when two share one.
func TestMembersNames(t *testing.T) {
	got := Members([]string{"runs/x/run", "runs/y/run", "other/node7/"})
	want := []Member{{"runs/x/run", "runs/x/run"}, {"runs/y/run", "runs/y/run"}, {"node7", "other/node7/"}}
	if !slices.Equal(got, want) {
		t.Errorf("Members: %q, want %q", got, want)
	}
}

func TestNaturalCompare(t *testing.T) {
	names := []string{"n10", "n2", "gpu-b", "n1", "n01b", "gpu-a", "n1a", "n007"}
	slices.SortFunc(names, naturalCompare)
	want := []string{"gpu-a", "gpu-b", "n1", "n1a", "n01b", "n2", "n007", "n10"}
	if !slices.Equal(names, want) {
		t.Errorf("sorted %q, want %q", names, want)
	}
}

// The normalisation that groups failures: what differs from node to node goes, what tells two
// failures apart stays.
func TestNormaliseReason(t *testing.T) {
	in := Instance{Name: "gpu-node-017", Host: "gpu-node-017.cluster", Out: "/shared/42/gpu-node-017"}
	for _, c := range []struct{ reason, want string }{
		{"Xid 79 (PCI:0000:3b:00.0) on gpu-node-017: GPU has fallen off the bus",
			"Xid 79 (PCI:{pci}) on {host}: GPU has fallen off the bus"},
		{"Xid 48 (PCI:0000:3b:00.0): DBE", "Xid 48 (PCI:{pci}): DBE"}, // another Xid: not the same group
		{"exit code 1: CUDA error: an illegal memory access was encountered; log: /shared/42/gpu-node-017/logs/04-train.log",
			"exit code 1: CUDA error: an illegal memory access was encountered; log: {out}/logs/04-train.log"},
		{"loss is NaN, first: 2026-12-01 00:53:21,170 - INFO - step=1 loss=nan", "loss is NaN, first: {time} - INFO - step=1 loss=nan"},
		{"interrupted after 12s", "interrupted after {n}s"},
		{"timed out after 1.5 s", "timed out after {n} s"},
		{"killed by SIGKILL (pid 48213): the OOM killer?", "killed by SIGKILL (pid {n}): the OOM killer?"},
		{"GPU GPU-8f2d0c4e-1a2b-4c3d-9e8f-0123456789ab lost at 0x7f3a9c000000", "GPU {uuid} lost at {hex}"},
		{"host gpu-node-017.cluster is not in the allow list", "host {host} is not in the allow list"},
		{"Tried to allocate 20.00 MiB (GPU 0; 23.65 GiB total capacity)", "Tried to allocate {n} MiB (GPU 0; {n} GiB total capacity)"},
		{"exit code 2: No module named 'datasets'", "exit code 2: No module named 'datasets'"},
	} {
		if got := normaliseReason(c.reason, in); got != c.want {
			t.Errorf("normaliseReason(%q)\n got %q\nwant %q", c.reason, got, c.want)
		}
	}
	// A name of one or two characters is too likely to be a word to be replaced.
	short := Instance{Name: "a", Host: "vm"}
	if got := normaliseReason("a vm crashed", short); got != "a vm crashed" {
		t.Errorf("short names replaced: %q", got)
	}
}

// syntheticFleet writes n evidence directories under a new directory, each with a summary.json
// made from the recorded passing run's: host gpu-node-NNNN; every 10th failed training with an
// Xid 79 whose message names the node, its PCI bus and its log under its own directory; every
// 50th (the 26th, 76th, ...) interrupted after a number of seconds that differs; every 97th has no
// summary.json. It returns the directory and the expected count of each.
func syntheticFleet(tb testing.TB, n int) (root string, xid, interrupted, missing int) {
	tb.Helper()
	src := filepath.Join(tb.TempDir(), "src")
	renderInto(tb, "pass", src)
	base, err := evidence.ReadSummary(src)
	if err != nil {
		tb.Fatal(err)
	}
	root = filepath.Join(tb.TempDir(), "job")
	for i := range n {
		node := fmt.Sprintf("gpu-node-%04d", i)
		dir := filepath.Join(root, node)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		if i%97 == 96 {
			missing++
			continue
		}
		s := *base
		s.Host, s.Out = node+".cluster", "/shared/job/"+node
		s.Sections = slices.Clone(base.Sections)
		switch {
		case i%10 == 9:
			xid++
			s.Verdict, s.ExitCode = evidence.Fail, 1
			s.FirstFailure = &evidence.SummarySection{ID: "04-train", Result: evidence.Fail,
				Reason: fmt.Sprintf("04-train: Xid 79 (PCI:0000:%02x:00.0) on %s: GPU has fallen off the bus; log: %s/logs/04-train.log", i%256, node, s.Out)}
			s.Sections[4] = *s.FirstFailure
		case i%50 == 25:
			interrupted++
			s.Verdict, s.ExitCode = evidence.Interrupted, 1
			s.FirstFailure = &evidence.SummarySection{ID: "04-train", Result: evidence.Interrupted,
				Reason: fmt.Sprintf("04-train: interrupted after %ds", i%60)}
			s.Sections[4] = *s.FirstFailure
		}
		b, err := json.MarshalIndent(&s, "", "  ")
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, evidence.SummaryFile), append(b, '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return root, xid, interrupted, missing
}

// A fleet of 1,000: the failures fall into three groups however the nodes are named, no
// matrix is drawn, every line stays short, the fixture is said once, and the exit code is 1.
// No time is measured here (BenchmarkFleet1000 does that).
func TestFleet1000(t *testing.T) {
	root, xid, interrupted, missing := syntheticFleet(t, 1000)
	var stepSummary = filepath.Join(t.TempDir(), "step-summary.md")
	instances, err := Dir(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := Write(filepath.Join(root, File), instances, view.Options{Now: recorded.RenderedAt, StepSummary: stepSummary})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Instances) != 1000 || f.ExitCode != 1 || f.Verdict != evidence.Fail {
		t.Fatalf("%d instances, exit code %d, verdict %s", len(f.Instances), f.ExitCode, f.Verdict)
	}
	if f.Instances[0].Name != "gpu-node-0000" || f.Instances[999].Name != "gpu-node-0999" {
		t.Errorf("instances from %s to %s", f.Instances[0].Name, f.Instances[999].Name)
	}
	type group struct {
		verdict, section, reason string
		n                        int
	}
	var got []group
	for _, g := range f.Failures {
		got = append(got, group{g.Verdict, g.Section, g.Reason, len(g.Instances)})
	}
	want := []group{
		{"FAIL", "04-train", "Xid 79 (PCI:{pci}) on {host}: GPU has fallen off the bus; log: {out}/logs/04-train.log", xid},
		{"INTERRUPTED", "04-train", "interrupted after {n}s", interrupted},
		{"MISSING", "", "no {out}/summary.json: the run did not end, or was never rendered", missing},
	}
	slices.SortStableFunc(want, func(a, b group) int { return b.n - a.n })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups:\n%+v\nwant\n%+v", got, want)
	}
	if pass := 1000 - xid - interrupted - missing; f.Counts[evidence.Pass] != pass {
		t.Errorf("%d PASS, want %d", f.Counts[evidence.Pass], pass)
	}

	md := string(recorded.ReadFile(t, filepath.Join(root, File)))
	mdtest.CheckTables(t, "fleet.md", md)
	if !strings.Contains(md, "\n## Sections × instances\n\nNot drawn: 1000 instances are more than 8.") {
		t.Error("fleet.md does not say in one line that the matrix is not drawn")
	}
	if strings.Contains(md, "| Section | gpu-node-0000 |") {
		t.Error("fleet.md draws the matrix for 1,000 instances")
	}
	if n := strings.Count(md, "\n| [gpu-node-") + strings.Count(md, "\n| gpu-node-"); n != 1000 {
		t.Errorf("fleet.md has %d instance rows, want 1000", n)
	}
	if n := strings.Count(md, "FIXTURE RUNS"); n != 1 {
		t.Errorf("FIXTURE RUNS said %d times", n)
	}
	// 990 fixture runs are not named; the 10 MISSING ones, which are not, are.
	if !strings.Contains(md, "> **FIXTURE RUNS:** 990 of 1000 instances (all but gpu-node-0096, gpu-node-0193, ") {
		t.Error("the fixture banner does not name the few instances that are not fixture runs")
	}
	longest := 0
	for _, l := range strings.Split(md, "\n") {
		longest = max(longest, len([]rune(l)))
	}
	if longest > 400 {
		t.Errorf("fleet.md's longest line has %d characters", longest)
	}
	if !strings.Contains(md, fmt.Sprintf("- **%d instances** FAIL in `04-train`: Xid 79 (PCI:{pci}) on {host}: GPU has fallen off the bus; log: {out}/logs/04-train.log — gpu-node-0009, gpu-node-0019, ", xid)) ||
		!strings.Contains(md, fmt.Sprintf(", … and %d more (fleet.json lists them all)\n", xid-maxGroupNames)) {
		t.Error("fleet.md's Xid group is not one line naming the first nodes and counting the rest")
	}
	if sum := string(recorded.ReadFile(t, stepSummary)); sum != md {
		t.Error("the step summary is not a copy of fleet.md")
	}

	// Without the failed and missing ones: PASS, exit code 0.
	var ok []Member
	for i, in := range instances {
		if i%10 != 9 && i%50 != 25 && i%97 != 96 {
			ok = append(ok, in)
		}
	}
	if f := Build(ok, root, ""); f.ExitCode != 0 || f.Verdict != evidence.Pass || len(f.Failures) != 0 {
		t.Errorf("passing instances only: exit code %d, verdict %s, %d groups", f.ExitCode, f.Verdict, len(f.Failures))
	}
}

// BenchmarkFleet1000 is the fleet report of 1,000 runs (read, grouped, fleet.md and fleet.json
// written), against reading their 1,000 summary.json files with os.ReadFile and nothing more.
func BenchmarkFleet1000(b *testing.B) {
	root, _, _, _ := syntheticFleet(b, 1000)
	instances, err := Dir(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), File)
	benchratio.Family{
		Baseline: func() error {
			for _, in := range instances {
				if _, err := os.ReadFile(filepath.Join(in.Dir, evidence.SummaryFile)); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
			return nil
		},
		Suite: func() error {
			f, _, err := Write(out, instances, view.Options{Now: recorded.RenderedAt})
			if err == nil && len(f.Instances) != 1000 {
				return fmt.Errorf("%d instances", len(f.Instances))
			}
			return err
		},
	}.Run(b)
}

// How many instances a finding concerns reads as English: never "all 2 instances".
func TestOfN(t *testing.T) {
	for _, c := range []struct {
		k, n int
		want string
	}{{1, 1, "the instance"}, {2, 2, "both instances"}, {1, 2, "1 of 2 instances"}, {12, 12, "all 12 instances"}, {3, 12, "3 of 12 instances"}} {
		if got := ofN(c.k, c.n); got != c.want {
			t.Errorf("ofN(%d, %d) = %q, want %q", c.k, c.n, got, c.want)
		}
	}
}
