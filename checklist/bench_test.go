package checklist

import (
	"github.com/difftrain/gpusmoke/internal/benchratio"

	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRender is Load and Render of the recorded passing run (checklist.md, report.md,
// summary.json and the legacy template filled, all written), against reading its junit.xml,
// run.json and gpu_env.json with os.ReadFile and nothing more.
func BenchmarkRender(b *testing.B) {
	dir := copyRun(b, "pass")
	opts := renderOpts("legacy")
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
			e, err := Load(dir)
			if err != nil {
				return err
			}
			res, err := Render(e, opts)
			if err == nil && (res.Verdict != "PASS" || res.TemplateKind != KindLegacy) {
				return fmt.Errorf("rendered %s with template %q, want PASS and %q", res.Verdict, res.TemplateKind, KindLegacy)
			}
			return err
		},
	}.Run(b)
}
