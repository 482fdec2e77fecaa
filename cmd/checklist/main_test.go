package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp files inside the scripts")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"checklist": main})
}

// TestScripts runs checklist/testdata/script/*.txtar: the command as a user types it.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           filepath.Join("..", "..", "checklist", "testdata", "script"),
		UpdateScripts: *update,
	})
}

func TestRunExitCodes(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	runs := filepath.Join("..", "..", "checklist", "testdata", "runs")
	copyDir := func(name string) string {
		dst := filepath.Join(t.TempDir(), name)
		if err := os.CopyFS(dst, os.DirFS(filepath.Join(runs, name))); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	failed := copyDir("fail-blocked")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a line it must print
		stderr string // what stderr must hold; "" for nothing
	}{
		{"failed run renders", []string{failed}, 0, filepath.Join(failed, "checklist.md"), "checklist: no template at /home/ubuntu/work/difftrain/docs/mvp_smoke_checklist.md; not filled\n"},
		{"matrix", []string{"-o", filepath.Join(t.TempDir(), "m.md"), filepath.Join(runs, "pass"), filepath.Join(runs, "fail-blocked")}, 0, "m.md", ""},
		{"no arguments", nil, 2, "", "usage: checklist"},
		{"unknown flag", []string{"-x", "dir"}, 2, "", "flag provided but not defined: -x"},
		{"missing directory", []string{filepath.Join(runs, "nope")}, 2, "", "checklist: read " + filepath.Join(runs, "nope", "run.json") + ": open "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if tc.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
			if tc.code == 2 && strings.HasPrefix(stderr.String(), "checklist: ") && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("error is not one line: %q", stderr.String())
			}
		})
	}
}
