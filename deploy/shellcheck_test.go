package deploy

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellcheck runs shellcheck over every shell script this package ships.
func TestShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not on PATH (apt-get install shellcheck)")
	}
	scripts := []string{"build-bundle", "slurm/gpusmoke.sbatch", "../scripts/run-smoke", "../scripts/device-check", "../scripts/harness-ldflags"}
	r := run(t, ".", nil, append([]string{"shellcheck", "--shell=bash"}, scripts...)...)
	if r.code != 0 {
		t.Errorf("shellcheck: %s", r)
	}
	// A broken script, so the check is known to fail.
	broken := filepath.Join("testdata", "shellcheck", "broken.sh")
	if r := run(t, ".", nil, "shellcheck", broken); r.code == 0 || !strings.Contains(r.stdout, "SC2086") {
		t.Errorf("shellcheck %s: want SC2086, got %s", broken, r)
	}
}
