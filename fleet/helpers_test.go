package fleet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
)

// renderInto copies the recorded run name to dir and renders it as a run is rendered at its end,
// which writes its summary.json.
func renderInto(t testing.TB, name, dir string) {
	t.Helper()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(recorded.Dir, name))); err != nil {
		t.Fatal(err)
	}
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checklist.Render(e, view.Options{Now: recorded.RenderedAt}); err != nil {
		t.Fatal(err)
	}
}
