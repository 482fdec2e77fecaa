package template

import (
	"path/filepath"
	"strings"
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

// stepRow is one filled step row of a template table (| Step | Command | Expected | Result | Notes |).
type stepRow struct{ line, step, command, result, notes string }

// stepRows are the rows of out's step tables whose Command cell holds a code span.
func stepRows(out string) []stepRow {
	var rows []stepRow
	for _, line := range strings.Split(out, "\n") {
		cells, _, _ := splitRow(line)
		if len(cells) != 5 || !strings.Contains(cells[1], "`") {
			continue
		}
		rows = append(rows, stepRow{line, strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1]),
			strings.TrimSpace(cells[3]), strings.TrimSpace(cells[4])})
	}
	return rows
}

// row is the step row of that Step cell.
func row(t *testing.T, out, step string) stepRow {
	t.Helper()
	for _, r := range stepRows(out) {
		if r.step == step {
			return r
		}
	}
	t.Fatalf("no step row %q in:\n%s", step, out)
	return stepRow{}
}
