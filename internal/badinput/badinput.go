// Package badinput runs a package's share of the broken-input corpus (testdata/bad) in its tests.
package badinput

import (
	"path/filepath"
	"strings"
	"testing"
)

// MinCases is the fewest files a corpus kind may have; fewer means the corpus is missing.
const MinCases = 5

// Check runs one case: it returns the message the input got ("" if it was accepted) and the
// file that message must name.
type Check func(path string) (msg, file string)

// Errors runs check on every file matching pattern and returns one line per case,
// "<base name>: <message, with the named file as FILE>", for a golden file. It fails t when a
// case is accepted, or its message spans lines or does not name the file.
func Errors(t testing.TB, pattern string, check Check) string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatalf("corpus %s: %v", pattern, err)
	}
	if len(files) < MinCases {
		t.Fatalf("%d files match %s: the corpus is missing (python3 testdata/bad/gen_bad.py writes it)", len(files), pattern)
	}
	var out strings.Builder
	for _, f := range files {
		f = filepath.Clean(f)
		msg, file := check(f)
		switch {
		case msg == "":
			t.Errorf("%s: accepted", f)
			continue
		case strings.Contains(msg, "\n"):
			t.Errorf("%s: the message spans lines: %q", f, msg)
		case !strings.Contains(msg, file):
			t.Errorf("%s: the message does not name %s: %q", f, file, msg)
		}
		out.WriteString(filepath.Base(f) + ": " + strings.ReplaceAll(msg, file, "FILE") + "\n")
	}
	return out.String()
}

// Msg is err's message, or "" for nil.
func Msg(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
