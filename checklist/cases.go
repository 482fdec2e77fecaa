package checklist

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// maxCaseLines bounds the failed cases and skip reasons listed for one section in the report and
// in the checklist's findings; the checklist's case table lists them all.
const maxCaseLines = 20

// caseLines are a section's failed cases, each with the first line of its failure, then its
// skip reasons, each with how many cases gave it: at most maxCaseLines, already escaped.
func caseLines(s Section) []string {
	var out []string
	skips := map[string]int{}
	var order []string
	for _, c := range s.Cases {
		switch c.Result {
		case evidence.Fail:
			out = append(out, "FAILED "+Code(c.ID)+" — "+Text(orDash(c.Reason)))
		case evidence.Skipped:
			if skips[c.Reason] == 0 {
				order = append(order, c.Reason)
			}
			skips[c.Reason]++
		}
	}
	for _, r := range order {
		out = append(out, fmt.Sprintf("skipped %s: %s", plural(skips[r], "case"), Text(orDash(r))))
	}
	if len(out) > maxCaseLines {
		more := len(out) - maxCaseLines
		out = append(out[:maxCaseLines], fmt.Sprintf("and %d more (see the checklist's pytest cases)", more))
	}
	return out
}

// writeCases writes each section's cases as a table: pytest's own testcases, folded under the
// section whose lane ran them.
func writeCases(b *bytes.Buffer, e *Evidence) {
	if !slices.ContainsFunc(e.Sections, func(s Section) bool { return len(s.Cases) > 0 }) {
		return
	}
	b.WriteString("\n## pytest cases\n")
	for _, s := range e.Sections {
		if len(s.Cases) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n### %s: %s\n\n", Text(s.Slug()), Text(evidence.Counts(s.Cases)))
		b.WriteString(header("Case", "Result", "Reason"))
		for _, c := range s.Cases {
			b.WriteString(Row(Code(c.ID), resultCell(c.Result), Text(orDash(c.Reason))) + "\n")
		}
	}
}

// caseCounts is " (pytest: 3 passed, 1 failed)" for a section with cases, else "".
func caseCounts(s Section) string {
	if len(s.Cases) == 0 {
		return ""
	}
	return " (pytest: " + Text(evidence.Counts(s.Cases)) + ")"
}

// envLine is what the run saw of the variables that decide what difftrain's tests skip and how
// CUDA runs, each "unset" when it was.
func envLine(e *Evidence) string {
	var parts []string
	for _, k := range evidence.ReportedEnv {
		v, ok := e.Run.Env[k]
		switch {
		case ok:
			parts = append(parts, Code(k+"="+v))
		case slices.Contains(evidence.DecisiveEnv, k):
			parts = append(parts, Code(k)+" unset")
		}
	}
	return strings.Join(parts, ", ")
}
