package checklist

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// maxCaseLines bounds the failed cases and skip reasons listed for one section in the report;
// the checklist's case table lists them all.
const maxCaseLines = 20

// caseLines are a section's failed cases, each with the first line of its failure, then its
// skip reasons, each with how many cases gave it: at most maxCaseLines, already escaped.
func caseLines(s evidence.Section) []string {
	var out []string
	skips := map[string]int{}
	var order []string
	for _, c := range s.Cases {
		switch c.Result {
		case evidence.Fail:
			out = append(out, "FAILED "+view.Code(c.ID)+" — "+view.Text(view.OrDash(c.Reason)))
		case evidence.Skipped:
			if skips[c.Reason] == 0 {
				order = append(order, c.Reason)
			}
			skips[c.Reason]++
		}
	}
	for _, r := range order {
		out = append(out, fmt.Sprintf("skipped %s: %s", view.Plural(skips[r], "case"), view.Text(view.OrDash(r))))
	}
	if len(out) > maxCaseLines {
		more := len(out) - maxCaseLines
		out = append(out[:maxCaseLines], fmt.Sprintf("and %d more (see the checklist's pytest cases)", more))
	}
	return out
}

// writeCases writes each section's cases as a table: pytest's own testcases, folded under the
// section whose lane ran them.
func writeCases(b *bytes.Buffer, e *view.Evidence) {
	if !slices.ContainsFunc(e.Sections, func(s evidence.Section) bool { return len(s.Cases) > 0 }) {
		return
	}
	b.WriteString("\n## pytest cases\n")
	for _, s := range e.Sections {
		if len(s.Cases) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n### %s: %s\n\n", view.Text(s.ID()), view.Text(evidence.Counts(s.Cases)))
		b.WriteString(view.Header("Case", "Result", "Reason"))
		for _, c := range s.Cases {
			b.WriteString(view.Row(view.Code(c.ID), view.ResultCell(c.Result), view.Text(view.OrDash(c.Reason))) + "\n")
		}
	}
}

// caseCounts is " (pytest: 3 passed, 1 failed)" for a section with cases, else "".
func caseCounts(s evidence.Section) string {
	if len(s.Cases) == 0 {
		return ""
	}
	return " (pytest: " + view.Text(evidence.Counts(s.Cases)) + ")"
}
