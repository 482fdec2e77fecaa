package template

import (
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
)

// templates are the templates the goldens fill: the fixture checkout's own (the real template's
// rows), the upstream kind and the legacy kind.
var templates = map[string]string{
	"fixture":  filepath.Join("..", "testdata", "difftrain", filepath.FromSlash(Rel)),
	"upstream": filepath.Join("..", "testdata", "templates", "upstream.md"),
	"legacy":   filepath.Join("..", "testdata", "templates", "legacy.md"),
}

func loadRun(t *testing.T, name string) *view.Evidence {
	t.Helper()
	e, err := view.Load(filepath.Join(recorded.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// section is the section of that number.
func section(t *testing.T, e *view.Evidence, number string) evidence.Section {
	t.Helper()
	for _, s := range e.Sections {
		if s.Section == number {
			return s
		}
	}
	t.Fatalf("no section %s", number)
	return evidence.Section{}
}
