package template

import (
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/golden"

	"github.com/difftrain/gpusmoke/internal/badinput"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
)

// bad is the broken-input corpus; testdata/bad/gen_bad.py writes it.
const bad = "../testdata/bad"

// Each broken checklist template of the corpus is filled: none panics, and each gets a one-line
// note naming it, kept in testdata/bad-template.golden (go test ./template -update).
func TestBadTemplates(t *testing.T) {
	e := loadRun(t, "pass")
	got := badinput.Errors(t, filepath.Join(bad, "template", "*.md"), func(c string) (string, string) {
		var (
			note string
			err  error
		)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: Fill panicked: %v", c, r)
				}
			}()
			_, note, err = Fill(e, view.Options{Now: recorded.RenderedAt, Template: c})
		}()
		switch {
		case err != nil:
			return "error: " + err.Error(), c
		case note == "":
			t.Errorf("%s: filled without a note", c)
		}
		return note, c
	})
	golden.Assert(t, got, "bad-template.golden")
}

// FuzzFillTemplate fills an arbitrary template from a recorded run: it never panics, says which
// kind it filled, keeps every line that is not a table row or a list item, and never changes the
// number of cells of a table row.
// Seeds: testdata/fuzz/FuzzFillTemplate (the templates in ../testdata, the fixture checkout's
// own, and ../testdata/bad/template).
func FuzzFillTemplate(f *testing.F) {
	e, err := view.Load(filepath.Join(recorded.Dir, "fail"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tmpl []byte) {
		out, kind := FillTemplate(tmpl, e, view.Options{Now: recorded.RenderedAt})
		if kind != KindUpstream && kind != KindLegacy && kind != "none" {
			t.Fatalf("kind %q", kind)
		}
		if kind == "none" {
			if why := whyNothingFilled(tmpl); why == "" || strings.Contains(why, "\n") {
				t.Fatalf("whyNothingFilled: %q", why)
			}
		}
		in := string(tmpl)
		if strings.Contains(in, "\r") {
			return // line endings are rewritten; the line-by-line check below needs \n only
		}
		body, ok := strings.CutPrefix(string(out), e.CPUOnly()+e.Banners())
		if !ok {
			t.Fatal("the banners are not at the top")
		}
		inLines, outLines := strings.Split(in, "\n"), strings.Split(body, "\n")
		if len(outLines) < len(inLines) {
			t.Fatalf("%d lines in, %d out", len(inLines), len(outLines))
		}
		for i, line := range inLines {
			got := outLines[i]
			if i == len(inLines)-1 && line == "" {
				break // the last newline; the footer follows
			}
			if got == line {
				continue
			}
			if !isTableLine(line) {
				if item := strings.TrimLeft(line, " \t\f\r\v"); !strings.HasPrefix(item, "-") && !strings.HasPrefix(item, "*") && !strings.HasPrefix(item, "+") {
					t.Fatalf("line %d changed, and it is neither a table row nor a list item:\n%q\n%q", i+1, line, got)
				}
				continue
			}
			a, _, _ := splitRow(line)
			b, _, _ := splitRow(got)
			if len(a) != len(b) {
				t.Fatalf("line %d: %d cells became %d:\n%q\n%q", i+1, len(a), len(b), line, got)
			}
		}
	})
}
