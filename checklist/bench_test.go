package checklist

import (
	"github.com/difftrain/gpusmoke/internal/benchratio"

	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRender is Render of the recorded passing run (checklist.md, report.md and the
// legacy template filled, all written), against reading its junit.xml, run.json and
// gpu_env.json with os.ReadFile and nothing more.
func BenchmarkRender(b *testing.B) {
	src := filepath.Join("testdata", "runs", "pass")
	dir := filepath.Join(b.TempDir(), "pass")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		b.Fatal(err)
	}
	opts := Options{Now: renderedAt, Operator: "A. Tester", Template: filepath.Join("..", "testdata", "templates", "legacy.md")}
	benchratio.Family{
		Baseline: func() error {
			for _, name := range []string{"junit.xml", "run.json", "gpu_env.json"} {
				if _, err := os.ReadFile(filepath.Join(dir, name)); err != nil {
					return err
				}
			}
			return nil
		},
		Suite: func() error {
			res, err := Render(dir, opts)
			if err == nil && (res.Verdict != "PASS" || res.TemplateKind != KindLegacy) {
				return fmt.Errorf("rendered %s with template %q, want PASS and %q", res.Verdict, res.TemplateKind, KindLegacy)
			}
			return err
		},
	}.Run(b)
}
