// Package recorded is test support: the evidence directories recorded from real runs of the
// suite on the fixture (go run ./checklist/testdata/record), which the renderer's packages test
// against, and the time their goldens are rendered at.
package recorded

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// RenderedAt pins the "rendered at" time of every golden file.
var RenderedAt = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// Dir is the directory of the recorded runs, one subdirectory per case.
var Dir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "checklist", "testdata", "runs")
}()

// Copy copies the recorded run name into a fresh directory of the same name, since rendering
// writes into the evidence directory, and returns it.
func Copy(t testing.TB, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(Dir, name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ReadFile is the content of the file p, or the test's end.
func ReadFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
