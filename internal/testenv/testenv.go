// Package testenv gives the suite's own tests an environment that does not depend on the shell
// they were started from: the variables of a user's shell that change what the suite, make,
// Python, pip, the Hugging Face hub or CUDA do are left out, and each test adds back those it
// relies on. It also names the processes a test learned of by pid and start time (Proc), so that
// a cleanup never kills a pid that has changed hands. A test helper, as internal/badinput is.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// prefixes are the families of variables left out: the suite's settings, the fixture's and the
// pretend-CUDA torch's knobs, and what changes an interpreter (PYTHONPATH, PYTHONHOME, PYTHONIOENCODING...), pip
// (PIP_NO_INDEX, PIP_REQUIRE_VIRTUALENV...), the hub and the model libraries (HF_HUB_OFFLINE,
// HF_TOKEN, TRANSFORMERS_OFFLINE...) and CUDA (CUDA_VISIBLE_DEVICES, CUBLAS_WORKSPACE_CONFIG...).
var prefixes = []string{
	"SMOKE_", "GPUSMOKE_", "FIXTURE_", "PRETEND_", "DIFFTRAIN_",
	"PYTHON", "PIP_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_", "DIFFUSERS_", "TORCH_",
	"CUDA_", "CUBLAS_", "CUDNN_", "NCCL_",
}

// names are the single variables left out: make's own, the Makefile's settings (a PLAN in the
// shell would pick make conformance's plan), and the renderer's (under GitHub Actions every
// test's report would be appended to the job's GITHUB_STEP_SUMMARY).
var names = []string{
	"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GPU", "GPUS", "FAKEGPU", "TESTFLAGS", "PLAN", "RUNS", "MATRIX", "CONFORMANCE_PYTHON",
	"GITHUB_STEP_SUMMARY", "SOURCE_DATE_EPOCH",
}

// Shell says whether the variable named k is one that Clean leaves out.
func Shell(k string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	for _, n := range names {
		if k == n {
			return true
		}
	}
	return false
}

// Clean is this process's environment without the variables Shell names, with extra (NAME=value)
// appended.
func Clean(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !Shell(k) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// DebianPython is /usr/bin/python3 when it imports the modules (comma-separated: Debian's
// python3-torch and the like, which .ci/run installs); the test skips otherwise, unless CI says
// with SMOKE_REQUIRE_TORCH=1 that they are there, and then it fails.
func DebianPython(t testing.TB, modules string) string {
	t.Helper()
	py := "/usr/bin/python3"
	cmd := exec.Command(py, "-c", "import "+modules)
	cmd.Env = Clean()
	if err := cmd.Run(); err != nil {
		if os.Getenv("SMOKE_REQUIRE_TORCH") == "1" {
			t.Fatalf("SMOKE_REQUIRE_TORCH=1 but %s cannot import %s: %v", py, modules, err)
		}
		t.Skipf("%s cannot import %s (install Debian's python3-torch and the like): %v", py, modules, err)
	}
	return py
}
