package checklist

import (
	"github.com/difftrain/gpusmoke/internal/benchratio"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"

	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRender is Load and Render of the recorded passing run (checklist.md, report.md,
// summary.json and the legacy template filled, all written), against reading its junit.xml,
// run.json and gpu_env.json with os.ReadFile and nothing more.
func BenchmarkRender(b *testing.B) {
	dir := recorded.Copy(b, "pass")
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
			e, err := view.Load(dir)
			if err != nil {
				return err
			}
			res, err := Render(e, opts)
			if err == nil && (res.Verdict != "PASS" || len(res.Notes) > 0) {
				return fmt.Errorf("rendered %s, notes %q: want PASS and the template filled", res.Verdict, res.Notes)
			}
			return err
		},
	}.Run(b)
}
