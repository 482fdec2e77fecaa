package checklist

import (
	"gotest.tools/v3/golden"

	"bytes"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/badinput"

	"os"
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/gpuenv"
)

// bad is the broken-input corpus; testdata/bad/gen_bad.py writes it.
const bad = "../testdata/bad"

// goodRun is the recorded run.json the broken junit.xml and gpu_env.json files are loaded with.
var goodRun = filepath.Join(runsDir, "pass", evidence.RunFile)

// TestBadInputs loads an evidence directory around each broken junit.xml, run.json and
// gpu_env.json of the corpus (the other files valid: a recorded run.json, a minimal junit.xml):
// each is refused with one line that names the file and, where there is one, the field. Each broken checklist template is
// rendered: none panics, and each gets a one-line note naming it. The errors and notes are kept
// in testdata/bad-<kind>.golden (go test ./checklist -update).
func TestBadInputs(t *testing.T) {
	for _, kind := range []struct {
		dir, glob, name string // the corpus directory, its files, and the evidence file each becomes
	}{
		{"junit", "*.xml", evidence.JUnitFile},
		{"runjson", "*.json", evidence.RunFile},
		{"gpuenv", "*.json", gpuenv.FileName},
	} {
		t.Run(kind.dir, func(t *testing.T) {
			got := badinput.Errors(t, filepath.Join(bad, kind.dir, kind.glob), func(c string) (string, string) {
				content, err := os.ReadFile(c)
				if err != nil {
					t.Fatal(err)
				}
				dir := evidenceDir(t, map[string]string{evidence.RunFile: string(readFile(t, goodRun)), evidence.JUnitFile: minimalJUnit})
				file := filepath.Join(dir, kind.name)
				if err := os.WriteFile(file, content, 0o644); err != nil {
					t.Fatal(err)
				}
				_, err = Load(dir)
				return badinput.Msg(err), file
			})
			golden.Assert(t, got, "bad-"+kind.dir+".golden")
		})
	}

	t.Run("template", func(t *testing.T) {
		got := badinput.Errors(t, filepath.Join(bad, "template", "*.md"), func(c string) (string, string) {
			e := loadCopy(t, "pass", Load)
			var (
				res Result
				err error
			)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: Render panicked: %v", c, r)
					}
				}()
				res, err = Render(e, Options{Now: renderedAt, Template: c})
			}()
			switch {
			case err != nil:
				return "error: " + err.Error(), c
			case res.TemplateNote == "":
				t.Errorf("%s: filled as %q without a note", c, res.TemplateKind)
			}
			return res.TemplateNote, c
		})
		golden.Assert(t, got, "bad-template.golden")
	})
}

// FuzzLoadJUnit loads a recorded evidence directory (pass) whose junit.xml is arbitrary bytes:
// it never panics, a refusal is one line naming the file at fault (junit.xml, or a file it
// names), what it loads has every section of the plan, and it renders.
// Seeds: testdata/fuzz/FuzzLoadJUnit (the recorded junit.xml files and testdata/bad/junit).
func FuzzLoadJUnit(f *testing.F) {
	dir := copyRun(f, "pass")
	path := filepath.Join(dir, evidence.JUnitFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := Load(dir)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, dir+string(filepath.Separator)) {
				t.Fatalf("want one line naming a file in %s, got %q", dir, msg)
			}
			return
		}
		if len(e.Sections) != len(e.Run.Sections) {
			t.Fatalf("%d sections, the plan in run.json has %d", len(e.Sections), len(e.Run.Sections))
		}
		var cl, rep bytes.Buffer
		writeChecklist(&cl, e, Options{Now: renderedAt})
		writeReport(&rep, e, Options{Now: renderedAt})
		_ = e.Verdict()
	})
}

// FuzzFillTemplate fills an arbitrary template from a recorded run: it never panics, says which
// kind it filled, keeps every line that is not a table row or a list item, and never changes the
// number of cells of a table row.
// Seeds: testdata/fuzz/FuzzFillTemplate (the templates in ../testdata, the fixture checkout's
// own, and testdata/bad/template).
func FuzzFillTemplate(f *testing.F) {
	e, err := Load(filepath.Join(runsDir, "fail"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tmpl []byte) {
		out, kind := FillTemplate(tmpl, e, Options{Now: renderedAt})
		if kind != KindUpstream && kind != KindLegacy && kind != "none" {
			t.Fatalf("kind %q", kind)
		}
		if kind == "none" {
			if why := whyNothingFilled(tmpl); why == "" || strings.Contains(why, "\n") {
				t.Fatalf("whyNothingFilled: %q", why)
			}
		}
		_ = unfillable("t.md", tmpl)
		in := string(tmpl)
		if strings.Contains(in, "\r") {
			return // line endings are rewritten; the line-by-line check below needs \n only
		}
		body, ok := strings.CutPrefix(string(out), e.banners())
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
