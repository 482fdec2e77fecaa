package checklist

import (
	"gotest.tools/v3/golden"

	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/badinput"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"

	"os"
	"path/filepath"
	"testing"
)

// bad is the broken-input corpus; testdata/bad/gen_bad.py writes it.
const bad = "../testdata/bad"

// goodRun is the recorded run.json the broken junit.xml and gpu_env.json files are loaded with.
var goodRun = filepath.Join(recorded.Dir, "pass", evidence.RunFile)

// TestBadInputs loads an evidence directory around each broken junit.xml, run.json and
// gpu_env.json of the corpus (the other files valid: a recorded run.json, a minimal junit.xml):
// each is refused with one line that names the file and, where there is one, the field. The
// errors are kept in testdata/bad-<kind>.golden (go test ./checklist -update).
func TestBadInputs(t *testing.T) {
	for _, kind := range []struct {
		dir, glob, name string // the corpus directory, its files, and the evidence file each becomes
	}{
		{"junit", "*.xml", evidence.JUnitFile},
		{"runjson", "*.json", evidence.RunFile},
		{"gpuenv", "*.json", evidence.GPUEnvFile},
	} {
		t.Run(kind.dir, func(t *testing.T) {
			got := badinput.Errors(t, filepath.Join(bad, kind.dir, kind.glob), func(c string) (string, string) {
				content, err := os.ReadFile(c)
				if err != nil {
					t.Fatal(err)
				}
				dir := evidenceDir(t, map[string]string{evidence.RunFile: string(recorded.ReadFile(t, goodRun)), evidence.JUnitFile: minimalJUnit})
				file := filepath.Join(dir, kind.name)
				if err := os.WriteFile(file, content, 0o644); err != nil {
					t.Fatal(err)
				}
				_, err = view.Load(dir)
				return badinput.Msg(err), file
			})
			golden.Assert(t, got, "bad-"+kind.dir+".golden")
		})
	}

}

// FuzzLoadJUnit loads a recorded evidence directory (pass) whose junit.xml is arbitrary bytes:
// it never panics, a refusal is one line naming the file at fault (junit.xml, or a file it
// names), what it loads has every section of the plan, and it renders.
// Seeds: testdata/fuzz/FuzzLoadJUnit (the recorded junit.xml files and testdata/bad/junit).
func FuzzLoadJUnit(f *testing.F) {
	dir := recorded.Copy(f, "pass")
	path := filepath.Join(dir, evidence.JUnitFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := view.Load(dir)
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
		if _, err := Render(e, view.Options{Now: recorded.RenderedAt}); err != nil {
			t.Fatal(err)
		}
	})
}
