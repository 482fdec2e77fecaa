package checklist

import (
	"github.com/difftrain/gpusmoke/internal/badinput"

	"os"
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/gpuenv"
)

// bad is the broken-input corpus; testdata/bad/gen_bad.py writes it.
const bad = "../testdata/bad"

// minimalJUnit is a junit.xml the loader accepts.
const minimalJUnit = `<testsuites><testsuite name="x"><testcase name="Test00Preflight"></testcase></testsuite></testsuites>`

// TestBadInputs loads an evidence directory around each broken junit.xml, run.json and
// gpu_env.json of the corpus (the other files minimal and valid): each is refused with one line
// that names the file and, where there is one, the field. Each broken checklist template is
// rendered: none panics, and each gets a one-line note naming it. The errors and notes are kept
// in testdata/bad-<kind>.golden (go test ./checklist -update).
func TestBadInputs(t *testing.T) {
	for _, kind := range []struct {
		dir, glob, name string // the corpus directory, its files, and the evidence file each becomes
	}{
		{"junit", "*.xml", artifacts.JUnitFile},
		{"runjson", "*.json", artifacts.RunFile},
		{"gpuenv", "*.json", gpuenv.FileName},
	} {
		t.Run(kind.dir, func(t *testing.T) {
			got := badinput.Errors(t, filepath.Join(bad, kind.dir, kind.glob), func(c string) (string, string) {
				content, err := os.ReadFile(c)
				if err != nil {
					t.Fatal(err)
				}
				dir := evidenceDir(t, map[string]string{artifacts.RunFile: minimalRun, artifacts.JUnitFile: minimalJUnit})
				file := filepath.Join(dir, kind.name)
				if err := os.WriteFile(file, content, 0o644); err != nil {
					t.Fatal(err)
				}
				_, err = Load(dir)
				return badinput.Msg(err), file
			})
			assertGolden(t, "bad-"+kind.dir, []byte(got))
		})
	}

	t.Run("template", func(t *testing.T) {
		got := badinput.Errors(t, filepath.Join(bad, "template", "*.md"), func(c string) (string, string) {
			dir := copyRun(t, "pass")
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
				res, err = Render(dir, Options{Now: renderedAt, Template: c})
			}()
			switch {
			case err != nil:
				return "error: " + err.Error(), c
			case res.TemplateNote == "":
				t.Errorf("%s: filled as %q without a note", c, res.TemplateKind)
			}
			return res.TemplateNote, c
		})
		assertGolden(t, "bad-template", []byte(got))
	})
}
