package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
)

// The bundle's smoke.test records the bundle's version (make bundle VERSION=test) and the commit
// it was built from in every run.json, and BUILDINFO names the commit.
func TestBundleRecordsItsVersion(t *testing.T) {
	root := repoRoot(t)
	git := func(args ...string) string {
		r := run(t, root, nil, append([]string{"git"}, args...)...)
		if r.code != 0 {
			t.Fatalf("git %v: %s", args, r)
		}
		return strings.TrimSpace(r.stdout)
	}
	commit := git("rev-parse", "HEAD")
	if git("status", "--porcelain", "--untracked-files=no") != "" {
		commit += "-dirty"
	}
	bundle := unpackedBundle(t, "")
	work := t.TempDir()
	out := filepath.Join(work, "evidence")
	env := []string{"PATH=" + noGoPath(t), "HOME=" + work, "TMPDIR=" + t.TempDir(), "LANG=C.UTF-8", "SMOKE_OUT=" + out}
	if r := run(t, work, env, filepath.Join(bundle, "run-smoke"), "-run", "Test00"); r.code != evidence.ExitIncomplete {
		t.Fatalf("run-smoke: %s", r)
	}
	info, err := evidence.ReadRun(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (evidence.Harness{Version: "test", Commit: commit}); info.Harness != want {
		t.Errorf("run.json harness: %+v, want %+v", info.Harness, want)
	}
	b, err := os.ReadFile(filepath.Join(bundle, "BUILDINFO"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\ncommit: "+commit+"\n") {
		t.Errorf("BUILDINFO does not name commit %s:\n%s", commit, b)
	}
}
