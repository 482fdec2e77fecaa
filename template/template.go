// Package template fills the difftrain checkout's own checklist template
// (docs/mvp_smoke_checklist.md) from a run: its metadata rows (meta.go), and each step row or
// item that names a command, with the section that ran it, matched by what the command does, or
// NA when this plan does not run it (steps.go).
package template

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// FillTemplate fills a copy of the checkout's checklist template (docs/mvp_smoke_checklist.md)
// from the evidence and returns it with the kind of template it recognised:
//
//   - KindUpstream: the newer template, a "| Field | Value |" metadata table and step tables
//     "| Step | Command | Expected | Result (PASS/FAIL/NA) | Notes |". Blank Value cells whose
//     Field it knows are filled; a step row whose Command cell holds a command that ran gets its
//     Result and Notes. "- Field:" summary bullets are filled too.
//   - KindLegacy: the older template, "- Field: " lines and "- [ ] item `command`" checkboxes,
//     ticked when their step passed and followed by " — RESULT: notes".
//   - "none" when it has neither: the copy only gets the banner and the footer.
//
// Every row or item whose command the template names gets a result and says what ran: the
// section that ran it (and its own command, when its words differ); or NA, "not in this plan",
// with the sections that did its work in its place (outcome). The copy opens, as the run's
// other documents do, with the CPU-only line and the banners, and its footer states the
// verdict as they do. Text outside tables and list items, and everything inside fenced code
// blocks, is kept as is.
func FillTemplate(tmpl []byte, e *view.Evidence, opts view.Options) ([]byte, string) {
	text := string(tmpl)
	crlf := strings.Contains(text, "\r\n")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	f := &filler{e: e, opts: opts, used: map[string]bool{}}

	fence := ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence) && strings.TrimSpace(line[len(m[0]):]) == "":
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		if isTableLine(line) && i+1 < len(lines) && isDelimiterRow(lines[i+1]) {
			hdr, _, _ := splitRow(line)
			r := tableRoles(hdr)
			for i += 2; i < len(lines) && isTableLine(lines[i]); i++ {
				lines[i] = f.fillRow(lines[i], r)
			}
			i--
			continue
		}
		lines[i] = f.fillBullet(line)
	}

	out := strings.Join(lines, "\n")
	out = e.CPUOnly() + e.Banners() + out // the top every document of the run has
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	out += f.footer()
	if crlf {
		out = strings.ReplaceAll(out, "\n", "\r\n")
	}
	kind := "none"
	switch {
	case f.table:
		kind = KindUpstream
	case f.bullets:
		kind = KindLegacy
	}
	return []byte(out), kind
}

// whyNothingFilled guesses, for a template FillTemplate filled nothing in, what kept it from
// filling: the first structure that looks meant to be filled but is not in the shape it reads.
func whyNothingFilled(tmpl []byte) string {
	text := string(tmpl)
	if !strings.Contains(text, "\n") && strings.Contains(text, "\r") {
		return "its lines end in a bare CR, so it reads as one line"
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	fence, fenceLine := "", 0
	for i, line := range lines {
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence, fenceLine = m[1], i+1
			case strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence) && strings.TrimSpace(line[len(m[0]):]) == "":
				fence = ""
			}
			continue
		}
		if fence != "" || !isTableLine(line) {
			continue
		}
		if i+1 >= len(lines) || !isDelimiterRow(lines[i+1]) {
			if strings.Count(line, "|") >= 2 {
				return fmt.Sprintf("line %d: a table row with no | --- | delimiter row under it", i+1)
			}
			continue
		}
		hdr, _, _ := splitRow(line)
		r := tableRoles(hdr)
		switch {
		case r.field >= 0 && r.value >= 0:
			return fmt.Sprintf("line %d: a Field | Value table naming no field this run records", i+1)
		case r.command < 0 && r.result >= 0:
			return fmt.Sprintf("line %d: a table with a Result column but no Command column", i+1)
		case r.command >= 0 && r.result < 0:
			return fmt.Sprintf("line %d: a table with a Command column but no Result column", i+1)
		case r.command >= 0:
			return fmt.Sprintf("line %d: a step table whose Command cells name no runbook command", i+1)
		}
	}
	if fence != "" {
		return fmt.Sprintf("line %d: a code fence that is never closed hides the rest", fenceLine)
	}
	return "no | Field | Value | table, no step table with Command and Result columns, no - Field: line"
}

// The template kinds FillTemplate recognises.
const (
	KindUpstream = "upstream"
	KindLegacy   = "legacy"
)

var (
	fenceRE        = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
	delimCellRE    = regexp.MustCompile(`^\s*:?-+:?\s*$`)
	checkboxRE     = regexp.MustCompile(`^(\s*[-*+]\s+)\[([ xX])\](\s?)(.*)$`)
	fieldRE        = regexp.MustCompile("^(\\s*[-*+]\\s+)(\\*\\*)?([^:*\\[\\]`|]+?)(\\*\\*)?:(\\*\\*)?[ \\t]*(_*)[ \\t]*$")
	codeSpanRE     = regexp.MustCompile("(`+)(.+?)(`+)")
	blankRE        = regexp.MustCompile(`(?i)^(|_+|-|—|tbd|todo|\?|(pass|fail|na)(\s*/\s*(pass|fail|na))+)$`)
	checkptRE      = regexp.MustCompile(`^checkpoint-\d+\.pt$`)
	artifactWordRE = regexp.MustCompile(`(?i)\bartifacts?\b`)
)

type filler struct {
	e              *view.Evidence
	opts           view.Options
	used           map[string]bool // sections some row or item reports
	noted          map[string]bool // note parts a row above already has
	table, bullets bool
}

// once drops the notes a row above already has: a note that repeats across rows is written
// once. Each note is kept whole.
func (f *filler) once(notes []string) []string {
	if f.noted == nil {
		f.noted = map[string]bool{}
	}
	var kept []string
	for _, n := range notes {
		if n != "" && !f.noted[n] {
			kept = append(kept, n)
			f.noted[n] = true
		}
	}
	if len(kept) == 0 && len(notes) > 0 {
		return []string{"as above"}
	}
	return kept
}

// roles are the column indexes a table's header gives; -1 when absent.
type roles struct{ field, value, command, result, notes int }

func tableRoles(hdr []string) roles {
	r := roles{-1, -1, -1, -1, -1}
	for i, h := range hdr {
		h = strings.ToLower(strings.Trim(strings.TrimSpace(h), "*_ "))
		switch {
		case h == "field" || h == "item" || h == "property":
			r.field = i
		case h == "value" || h == "details":
			r.value = i
		case strings.Contains(h, "command"):
			r.command = i
		case strings.HasPrefix(h, "result") || h == "status" || strings.HasPrefix(h, "pass/fail"):
			r.result = i
		case strings.Contains(h, "note"):
			r.notes = i
		}
	}
	return r
}

func isTableLine(line string) bool {
	return strings.TrimSpace(line) != "" && strings.Contains(line, "|")
}

func isDelimiterRow(line string) bool {
	if !isTableLine(line) {
		return false
	}
	cells, _, _ := splitRow(line)
	for _, c := range cells {
		if !delimCellRE.MatchString(c) {
			return false
		}
	}
	return len(cells) > 0
}

// splitRow splits a table row at its unescaped pipes (GitHub's rule: a pipe after a backslash
// is part of the cell), and says whether the row had leading and trailing pipes.
func splitRow(line string) (cells []string, lead, trail bool) {
	s := strings.TrimSpace(line)
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && (i == 0 || s[i-1] != '\\') {
			cells = append(cells, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	cells = append(cells, cur.String())
	lead = strings.HasPrefix(s, "|")
	trail = len(s) > 1 && strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`)
	if lead {
		cells = cells[1:]
	}
	if trail && len(cells) > 0 {
		cells = cells[:len(cells)-1]
	}
	return cells, lead, trail
}

func joinRow(indent string, cells []string, lead, trail bool) string {
	s := strings.Join(cells, "|")
	if lead {
		s = "|" + s
	}
	if trail {
		s += "|"
	}
	return indent + s
}

func leadingSpace(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " \t"))] }

func isBlank(cell string) bool { return blankRE.MatchString(strings.TrimSpace(cell)) }

func (f *filler) fillRow(line string, r roles) string {
	cells, lead, trail := splitRow(line)
	get := func(i int) (string, bool) {
		if i < 0 || i >= len(cells) {
			return "", false
		}
		return cells[i], true
	}
	set := func(i int, v string) { cells[i] = " " + v + " " }
	changed := false

	if key, ok := get(r.field); ok {
		if val, ok := get(r.value); ok && isBlank(val) {
			if m := f.meta(key); m.ok {
				f.table = true
				set(r.value, m.markdown())
				changed = true
			}
		}
	}
	if cmd, ok := get(r.command); ok && r.result >= 0 {
		cands := commandCandidates(cmd)
		res, _ := get(r.result)
		if len(cands) > 0 && r.result < len(cells) && isBlank(res) {
			f.table = true
			result, note := f.outcome(cands)
			set(r.result, result)
			if n, ok := get(r.notes); ok {
				set(r.notes, appendNote(n, note))
			}
			changed = true
		}
	}
	if !changed {
		return line
	}
	return joinRow(leadingSpace(line), cells, lead, trail)
}

func appendNote(existing, note string) string {
	existing = strings.TrimSpace(existing)
	if isBlank(existing) {
		return note
	}
	return existing + "; " + note
}

func (f *filler) fillBullet(line string) string {
	if m := checkboxRE.FindStringSubmatch(line); m != nil {
		if m[2] != " " {
			return line // ticked by a person: left alone, as filled table cells are
		}
		var result, note string
		if strings.ContainsRune(m[4], '`') {
			cands := commandCandidates(m[4])
			if len(cands) == 0 {
				return line
			}
			result, note = f.outcome(cands)
		} else if s, ok := f.named(artifactSectionName); ok && artifactWordRE.MatchString(m[4]) {
			result, note = f.sectionOutcome(s, "")
		} else {
			return line // prose that names no command
		}
		f.bullets = true
		mark := " "
		if result == evidence.Pass {
			mark = "x"
		}
		suffix := " — " + result
		if note != "" {
			suffix += ": " + note
		}
		return m[1] + "[" + mark + "]" + m[3] + strings.TrimRight(m[4], " ") + suffix
	}
	if m := fieldRE.FindStringSubmatch(line); m != nil {
		v := f.meta(m[3])
		if !v.ok {
			return line
		}
		f.bullets = true
		head := strings.TrimRight(strings.TrimSuffix(strings.TrimRight(line, " \t"), m[6]), " \t")
		return head + " " + v.markdown()
	}
	return line
}

// commandCandidates are the normalized commands a cell or item names: each code span, or the
// whole text when it has none.
func commandCandidates(cell string) []string {
	var out []string
	for _, m := range codeSpanRE.FindAllStringSubmatch(cell, -1) {
		if len(m[1]) != len(m[3]) {
			continue
		}
		if c := NormalizeCommand(strings.ReplaceAll(m[2], `\|`, "|")); c != "" {
			out = append(out, c)
		}
	}
	if len(out) == 0 && !strings.Contains(cell, "`") {
		if c := NormalizeCommand(strings.ReplaceAll(cell, `\|`, "|")); c != "" && !isBlank(c) {
			out = append(out, c)
		}
	}
	return out
}

func (f *filler) footer() string {
	e := f.e
	var b strings.Builder
	fmt.Fprintf(&b, "\n---\n\nFilled by gpusmoke from %s on %s. Verdict: %s. The full evidence is in %s.\n",
		view.Code(e.Out), f.opts.Time().Format("2006-01-02 15:04 UTC"), e.VerdictLine(), view.Code(e.OutPath(evidence.ChecklistFile)))
	var missing []string
	for _, s := range e.Sections {
		if !f.used[s.Section] {
			missing = append(missing, fmt.Sprintf("%s (%s)", view.Text(s.ID()), s.Result))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "Sections with no row in this template: %s.\n", strings.Join(missing, ", "))
	}
	return b.String()
}
