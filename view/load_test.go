package view

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
)

// An empty junit.xml (gotestsum could not write it: a full disk) is no reason to render
// nothing: the results come from run.json, and Source says why.
func TestEmptyJUnitFallsBackToRunJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "checklist", "testdata", "runs", "fail"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, evidence.JUnitFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "run.json (junit.xml is empty: gotestsum could not write it, a full disk?)"; e.Source != want {
		t.Errorf("source %q, want %q", e.Source, want)
	}
	if e.Verdict() != evidence.Fail || e.Sections[4].Result != evidence.Fail {
		t.Errorf("verdict %s, 04 %s: want the run's own FAIL from run.json", e.Verdict(), e.Sections[4].Result)
	}
}
