package fleet

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
)

// fleetOf renders the recorded runs into a fleet directory, one node each (n1, n2, ... in the
// order given), writes its report, and returns it with fleet.md.
func fleetOf(t *testing.T, runs ...string) (*Report, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "job")
	for i, run := range runs {
		renderInto(t, run, filepath.Join(root, "n"+string(rune('1'+i))))
	}
	members, err := Dir(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := Write(filepath.Join(root, File), members, view.Options{Now: recorded.RenderedAt})
	if err != nil {
		t.Fatal(err)
	}
	return f, string(recorded.ReadFile(t, filepath.Join(root, File)))
}

// A reason's placeholders are plain text: fleet.md shows "after {n}s" as it reads, with no
// HTML entity a reader of the raw file must decode.
func TestFleetPlaceholdersReadAsWritten(t *testing.T) {
	f, md := fleetOf(t, "pass", "interrupted", "crash-oom")
	mdHas(t, md, "- **1 instance** INTERRUPTED in `04-train`: interrupted after {n}s — n2\n",
		"Tried to allocate {n} MiB (GPU 0; {n} GiB total capacity; ")
	if strings.Contains(md, "&lt;") || strings.Contains(md, "&gt;") {
		t.Errorf("fleet.md holds HTML entities:\n%s", md)
	}
	if i := slices.IndexFunc(f.Failures, func(g Group) bool { return g.Verdict == evidence.Interrupted }); i < 0 || f.Failures[i].Reason != "interrupted after {n}s" {
		t.Errorf("fleet.json's groups %+v", f.Failures)
	}
}

// mdHas fails the test for each of wants that fleet.md lacks.
func mdHas(t *testing.T, md string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(md, want) {
			t.Errorf("fleet.md lacks %q:\n%s", want, md)
		}
	}
}

// matrixRows are the Section cells of fleet.md's matrix, in order.
func matrixRows(md string) []string {
	_, m, _ := strings.Cut(md, "## Sections × instances\n")
	m, _, _ = strings.Cut(m, "\n## ")
	var ids []string
	for _, line := range strings.Split(m, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 2 && !strings.HasPrefix(line, "| Section") && !strings.HasPrefix(line, "| ---") && !strings.HasPrefix(line, "| **Verdict**") {
			ids = append(ids, strings.TrimSpace(cells[1]))
		}
	}
	return ids
}

// With instances of two plans, the matrix lists each plan's sections in that plan's order, the
// sections they share once, where both plans have them: not alphabetically, which would put
// 02-dataset beside 02-unit-lane and 03-gpu-lane before 03-validate. A line says which
// instance ran which plan.
func TestFleetMixedPlansKeepTheirOrder(t *testing.T) {
	runbook := []string{"00-preflight", "01-install", "02-dataset", "03-validate", "04-train", "05-artifacts", "06-resume", "07-amp-fp16", "08-amp-bf16"}
	lanes := []string{"02-unit-lane", "03-gpu-lane", "04-lane-artifacts"}
	for _, tc := range []struct {
		runs []string
		want []string
	}{
		{[]string{"pass", "lanes-pass", "lanes-failing-test"}, append(slices.Clone(runbook), lanes...)},
		{[]string{"lanes-pass", "pass"}, append(append(slices.Clone(runbook[:2]), lanes...), runbook[2:]...)},
	} {
		_, md := fleetOf(t, tc.runs...)
		if got := matrixRows(md); !slices.Equal(got, tc.want) {
			t.Errorf("%q: matrix rows\n%q\nwant\n%q", tc.runs, got, tc.want)
		}
		if !strings.Contains(md, "The instances ran 2 plans. n1: difftrain MVP smoke") {
			t.Errorf("%q: fleet.md does not say which plan each instance ran:\n%s", tc.runs, md)
		}
	}
	if _, md := fleetOf(t, "pass", "fail"); strings.Contains(md, "The instances ran") {
		t.Errorf("one plan, yet fleet.md lists plans:\n%s", md)
	}
}

// The merge keeps every plan's order: a section one plan adds between two others goes between
// them, and a plan's own sections after the ones it shares go after everything before.
func TestMergeOrder(t *testing.T) {
	for _, tc := range []struct {
		plans [][]string
		want  []string
	}{
		{[][]string{{"a", "b", "c"}, {"a", "b", "c"}}, []string{"a", "b", "c"}},
		{[][]string{{"a", "b", "d"}, {"a", "c", "d"}}, []string{"a", "b", "c", "d"}},
		{[][]string{{"a", "x", "y"}, {"a", "p"}}, []string{"a", "x", "y", "p"}},
		{[][]string{{"b", "c"}, {"a", "b"}}, []string{"a", "b", "c"}},
		{[][]string{{"a", "b"}, {"b", "a"}}, []string{"a", "b"}}, // orders that disagree: the first seen wins
	} {
		if got := mergeOrder(tc.plans); !slices.Equal(got, tc.want) {
			t.Errorf("mergeOrder(%q) = %q, want %q", tc.plans, got, tc.want)
		}
	}
}

// A conformance run (difftrain with the stand-in model packages: summary.json's target) is
// flagged as a fixture run is, once for the fleet, naming the instances; fleet.json counts them
// and gives each instance's target and plan.
func TestFleetFlagsConformanceRuns(t *testing.T) {
	f, md := fleetOf(t, "pass", "conformance", "lanes-pass")
	mdHas(t, md, "> **FIXTURE RUNS:** 2 of 3 instances (n1, n3) ran the bundled stand-in for difftrain, not a real checkout.",
		"> **CONFORMANCE RUNS:** 1 of 3 instances (n2) ran difftrain with stand-in model packages: its own code ran, but not the model libraries it ships with.")
	if n := strings.Count(md, "CONFORMANCE RUNS"); n != 1 {
		t.Errorf("CONFORMANCE RUNS said %d times", n)
	}
	if f.ConformanceRuns != 1 || f.FixtureRuns != 2 {
		t.Errorf("fleet.json: %d conformance runs, %d fixture runs", f.ConformanceRuns, f.FixtureRuns)
	}
	var targets, plans []string
	for _, in := range f.Instances {
		targets, plans = append(targets, in.Target), append(plans, in.Plan)
	}
	if want := []string{evidence.TargetFixture, evidence.TargetStandins, evidence.TargetFixture}; !slices.Equal(targets, want) {
		t.Errorf("targets %q, want %q", targets, want)
	}
	if want := []string{"difftrain MVP smoke (bundled fixture, offline)", "difftrain MVP smoke (conformance, CPU, stand-in model packages)", "difftrain MVP smoke, pytest lanes (bundled fixture, offline)"}; !slices.Equal(plans, want) {
		t.Errorf("plans %q, want %q", plans, want)
	}
	// The conformance run alone: all of the fleet, and no fixture banner.
	if _, md := fleetOf(t, "conformance"); !strings.Contains(md, "> **CONFORMANCE RUNS:** the instance ran difftrain with stand-in model packages") || strings.Contains(md, "FIXTURE RUNS") {
		t.Errorf("a fleet of one conformance run:\n%s", md)
	}
}
