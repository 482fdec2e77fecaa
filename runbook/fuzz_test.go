package runbook

import (
	"strings"
	"testing"
)

// FuzzParsePlan feeds arbitrary bytes to Parse as a plan file: it never panics, a refused plan
// gets one line naming the file, and an accepted one has the runbook's sections in order.
// Seeds: testdata/fuzz/FuzzParsePlan (the runbook, the fixture's plan and testdata/bad/plan).
func FuzzParsePlan(f *testing.F) {
	f.Add(runbookYAML)
	base := Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "plan.yaml")
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("the error spans lines: %q", msg)
			}
			if !strings.Contains(msg, "plan.yaml") {
				t.Fatalf("the error does not name the file: %q", msg)
			}
			return
		}
		if len(p.Steps) != len(base.Steps) {
			t.Fatalf("accepted a plan of %d steps", len(p.Steps))
		}
		for i, s := range p.Steps {
			if s.ID() != base.Steps[i].ID() {
				t.Fatalf("accepted %s as steps[%d], the runbook has %s", s.ID(), i, base.Steps[i].ID())
			}
		}
		for _, d := range p.Deviations() {
			if strings.TrimSpace(d.Reason) == "" {
				t.Fatalf("accepted deviation %s without a reason", d.Name)
			}
		}
	})
}
