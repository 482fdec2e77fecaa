// Package template fills the difftrain checkout's own checklist template
// (docs/mvp_smoke_checklist.md) from a run: its metadata rows, and each step row or item whose
// command the run ran, matched by what the command does.
package template

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
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
// Commands match after NormalizeCommand. A row whose command did not run keeps a blank Result
// and says so in its Notes; a row for a step that ran a deviating command is NA with the reason.
// Text outside tables and list items, and everything inside fenced code blocks, is kept as is.
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
	out = e.Banners() + out
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
			if result != "" {
				set(r.result, result)
			} else if strings.TrimSpace(res) != "" {
				set(r.result, "")
			}
			if n, ok := get(r.notes); ok {
				set(r.notes, appendNote(n, view.Text(note)))
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
		suffix := ""
		switch {
		case result != "" && note != "":
			suffix = " — " + result + ": " + view.Text(note)
		case result != "":
			suffix = " — " + result
		default:
			suffix = " — " + view.Text(note)
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

// outcome is what a template row or item whose command cell names cands records: its result
// word (PASS, FAIL or NA; empty when no step ran its command) and a note. A row is matched by
// what its command does (role) before its exact words: the template's commands need not be
// the plan's.
func (f *filler) outcome(cands []string) (result, note string) {
	e := f.e
	for _, c := range cands {
		if result, note, ok := f.role(c); ok {
			return result, note
		}
	}
	for _, c := range cands {
		for _, s := range e.Sections {
			if s.Command != "" && NormalizeCommand(s.Command) == c {
				return f.sectionOutcome(s, "")
			}
		}
	}
	// Artifact rows: every candidate names a file the runbook's step 5 checks.
	allArtifacts := true
	for _, c := range cands {
		if !isArtifactCheck(c) {
			allArtifacts = false
		}
	}
	if s, ok := f.named(artifactSectionName); ok && allArtifacts {
		kept := ""
		if w := strings.Fields(cands[0]); len(cands) == 1 && len(w) == 1 {
			if fl, ok := f.copyOf(w[0]); ok {
				kept = fmt.Sprintf("kept as %s (sha256 %s…)", fl.Path, fl.SHA256[:12])
			} else {
				kept = "no copy in " + evidence.CopiesDir + "/"
			}
		}
		return f.sectionOutcome(s, kept)
	}
	for _, c := range cands {
		// nvidia-smi: the preflight records its output.
		if w := strings.Fields(c); len(w) > 0 && w[0] == "nvidia-smi" {
			if s, ok := f.section("00"); ok {
				if !e.HasSMI {
					f.used[s.Section] = true
					return evidence.NA, "nvidia-smi output not recorded"
				}
				if e.Env == nil || !e.Env.NVML.Available {
					f.used[s.Section] = true
					return evidence.Fail, "no GPU visible: " + firstLine(e.SMI) + "; output in " + e.OutPath(evidence.NvidiaSMIFile)
				}
				return f.sectionOutcome(s, "output in "+e.OutPath(evidence.NvidiaSMIFile))
			}
		}
		// Preparing an AMP config: the AMP section writes its own temporary config.
		if s, ok := f.prepSection(c); ok {
			extra := "done by " + s.ID() + " itself"
			for _, t := range e.Run.TempConfigs {
				if path.Base(t) == configBase(s.Command) {
					extra += " (" + t + ")"
				}
			}
			return f.sectionOutcome(s, extra)
		}
	}
	// The runbook's command for a step that ran a deviating one.
	for _, c := range cands {
		for _, d := range e.Deviations() {
			runbook := d.Runbook
			if runbook == "" || NormalizeCommand(runbook) != c {
				continue
			}
			if s, ok := f.section(d.Section); ok {
				f.used[s.Section] = true
				return evidence.NA, fmt.Sprintf("not run as written: %s ran %s instead (deviation: %s); that step: %s",
					s.ID(), view.OrDash(s.Command), view.OrDash(d.Reason), s.Result)
			}
		}
	}
	return "", "not run by the harness"
}

// role matches a template command to what the run did by what the command does, not its exact
// words: an editable install of the checkout (whatever its extras), the repo-root check, the
// CUDA probe, and an AMP run (the template runs the tracked config after editing it by hand;
// the harness runs a temporary copy, as the runbook requires).
func (f *filler) role(c string) (result, note string, ok bool) {
	e := f.e
	w := shellWords(c)
	switch {
	case len(w) > 0 && w[0] == "pwd" && len(w) == 1:
		if e.Run.DifftrainDir == "" {
			return evidence.NA, "the checkout's path was not recorded", true
		}
		return evidence.Pass, fmt.Sprintf("commands ran in the workspace %s, the parent of the checkout %s", e.Run.Workspace, e.Run.DifftrainDir), true
	case strings.Contains(c, "torch.cuda.is_available"):
		if s, found := f.named("preflight"); found {
			f.used[s.Section] = true
		}
		if e.Env == nil || e.Env.Python.Torch.Version == "" {
			return evidence.NA, "preflight's probe of torch was not recorded", true
		}
		t := e.Env.Python.Torch
		if t.Version == gpuenv.NotInstalled {
			return evidence.NA, "torch was not installed at preflight (" + e.Run.Python + ")", true
		}
		res := evidence.Fail
		if t.CUDAAvailable {
			res = evidence.Pass
		}
		return res, fmt.Sprintf("preflight's probe: torch %s says %s", t.Version, pyBool(t.CUDAAvailable)), true
	case slices.Contains(w, "pip") && slices.Contains(w, "install") && slices.ContainsFunc(w, isCheckoutSpec):
		s, found := f.named("install")
		if !found {
			return "", "", false
		}
		res, n := f.sectionOutcome(s, "")
		if cmd := s.Command; cmd != "" && NormalizeCommand(cmd) != c {
			n += "; the harness ran " + cmd
		}
		return res, n, true
	case pytestArgs(w) != nil:
		// A pytest lane: the template runs `pytest ...`, the plan `python -m pytest ...`.
		for _, s := range e.Sections {
			if a := pytestArgs(shellWords(NormalizeCommand(s.Command))); a != nil && slices.Equal(a, pytestArgs(w)) {
				res, n := f.sectionOutcome(s, "")
				return res, n, true
			}
		}
	case slices.ContainsFunc(w, func(a string) bool { return path.Base(a) == "train_text_to_image.py" }):
		out := flagOf(c, "--output-dir")
		for _, p := range []string{"fp16", "bf16"} {
			if strings.HasSuffix(path.Clean(out), "_"+p) && !strings.Contains(configBase(c), p) {
				s, found := f.named("amp-" + p)
				if !found {
					return "", "", false
				}
				res, n := f.sectionOutcome(s, fmt.Sprintf("the harness ran a temporary config %s with train.precision: %s instead of editing the tracked config",
					view.OrDash(flagOf(s.Command, "--config")), p))
				return res, n, true
			}
		}
	}
	return "", "", false
}

// pytestArgs are the arguments of a pytest command (`pytest ...` or `python -m pytest ...`)
// but the options the suite adds to a lane (evidence.LaneFlags), or nil when w runs no pytest.
func pytestArgs(w []string) []string {
	for i, a := range w {
		if a == "pytest" && (i == 0 || i >= 2 && w[i-1] == "-m") {
			args := []string{}
			for j := i + 1; j < len(w); j++ {
				if slices.Contains(evidence.LaneFlags, w[j]) {
					j++
					continue
				}
				args = append(args, w[j])
			}
			return args
		}
	}
	return nil
}

// isCheckoutSpec says whether a pip argument installs the difftrain checkout: "./difftrain",
// "./difftrain[text2image]", ".[text2image,dev]".
func isCheckoutSpec(a string) bool {
	base, _, _ := strings.Cut(a, "[")
	base = strings.TrimSuffix(base, "/")
	return path.Base(base) == "difftrain" || base == "."
}

// firstLine is the first non-blank line of text, trimmed.
func firstLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func (f *filler) section(number string) (evidence.Section, bool) {
	for _, s := range f.e.Sections {
		if s.Section == number {
			return s, true
		}
	}
	return evidence.Section{}, false
}

// named is the section of that name.
func (f *filler) named(name string) (evidence.Section, bool) {
	for _, s := range f.e.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return evidence.Section{}, false
}

// copyOf is the evidence copy of a runbook artifact path such as ./difftrain/_tmp_run/env.json:
// artifacts/<section>/<name>, copied by the section whose command writes into that directory.
func (f *filler) copyOf(p string) (view.File, bool) {
	dir := path.Clean(path.Dir(p))
	var best view.File
	for _, fl := range f.e.Files {
		if fl.Missing || path.Base(fl.Path) != path.Base(p) || path.Dir(path.Dir(fl.Path)) != evidence.CopiesDir {
			continue
		}
		for _, s := range f.e.Sections {
			if s.ID() == path.Base(path.Dir(fl.Path)) && path.Clean(flagOf(s.Command, "--output-dir")) == dir &&
				(best.Path == "" || fl.Path > best.Path) {
				best = fl // the latest section's: training overwrites validation's files of the same name
			}
		}
	}
	return best, best.Path != ""
}

// flagOf is the value after flag in a command line, or "".
func flagOf(cmd, flag string) string {
	w := shellWords(cmd)
	for i := 0; i+1 < len(w); i++ {
		if w[i] == flag {
			return w[i+1]
		}
	}
	return ""
}

// configBase is the base name of a command's --config value.
func configBase(cmd string) string {
	if v := flagOf(cmd, "--config"); v != "" {
		return path.Base(v)
	}
	return ""
}

// prepSection is the AMP section that does what candidate c prepares by hand: copying the
// smoke config to the AMP section's temporary config, or editing train.precision.
func (f *filler) prepSection(c string) (evidence.Section, bool) {
	w := strings.Fields(c)
	if len(w) >= 3 && w[0] == "cp" {
		target := path.Base(w[len(w)-1])
		for _, s := range f.e.Sections {
			if s.Command != "" && configBase(s.Command) == target {
				return s, true
			}
		}
		return evidence.Section{}, false
	}
	if strings.Contains(c, "train.precision") {
		for _, s := range f.e.Sections {
			if strings.Contains(configBase(s.Command), "fp16") {
				return s, true
			}
		}
	}
	return evidence.Section{}, false
}

func (f *filler) sectionOutcome(s evidence.Section, extra string) (string, string) {
	f.used[s.Section] = true
	parts := []string{s.ID()}
	result := s.Result
	switch s.Result {
	case evidence.Pass, evidence.Fail:
	default: // NA, SKIPPED, INTERRUPTED, NOT RUN
		parts[0] += " " + s.Result
		result = evidence.NA
	}
	if s.Duration != "" {
		parts[0] += " in " + s.Duration + " s"
	}
	var notes []string
	if n := view.Notes(s); n != "" {
		notes = append(notes, n)
	}
	if extra != "" {
		notes = append(notes, extra)
	}
	return result, strings.Join(append(parts, f.once(notes)...), "; ")
}

// artifactSectionName is the section that checks difftrain's output files; a template row
// whose command cell only names those files is matched to it.
const artifactSectionName = "artifacts"

// runbookArtifacts are the repro files the runbook's step 5 lists (the checkpoints match checkptRE).
var runbookArtifacts = []string{"env.json", "config.resolved.yaml", "run_manifest.json"}

func isArtifactCheck(c string) bool {
	words := strings.Fields(c)
	if len(words) > 0 && slices.Contains([]string{"ls", "stat", "test", "[", "sha256sum", "du", "file"}, words[0]) {
		words = words[1:]
	}
	n := 0
	for _, w := range words {
		if strings.HasPrefix(w, "-") || w == "]" {
			continue
		}
		b := path.Base(w)
		if !slices.Contains(runbookArtifacts, b) && !checkptRE.MatchString(b) {
			return false
		}
		n++
	}
	return n > 0
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
