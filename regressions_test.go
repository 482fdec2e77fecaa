package gpusmoke_test

// End-to-end tests of issue 18's blind spots: checks that last round's tests let a small,
// realistic bug through. Each test here fails with that bug applied (the issue names them).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

// A step that rewrites a tracked file at the same size and sets its modification time back
// (os.utime) is seen: by the file's change time where the checkout is not a git repository, by
// git where it is, even when the checkout's git config tells git not to trust change times.
func TestSameSizeRewriteIsSeen(t *testing.T) {
	for _, tc := range []struct {
		name       string
		git        bool
		gitOptions []string // git config of the checkout
		want       string
	}{
		{"not a git repository", false, nil, `^02-dataset modified the difftrain checkout .*not a git repository.*: configs/base.yaml \(changed\)$`},
		{"a git repository", true, nil, `^02-dataset modified the difftrain checkout .*: M configs/base.yaml$`},
		{"a git repository that does not trust change times", true, []string{"core.trustctime=false", "core.checkStat=minimal"},
			`^02-dataset modified the difftrain checkout .*: M configs/base.yaml$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, env := fixtureCheckout(t)
			if tc.git {
				gitInit(t, dir)
			}
			for _, o := range tc.gitOptions {
				k, v, _ := strings.Cut(o, "=")
				require.NoError(t, exec.Command("git", "-C", dir, "config", k, v).Run())
			}
			base := filepath.Join(dir, "configs", "base.yaml")
			before, err := os.Stat(base)
			require.NoError(t, err)
			r := makeSmoke(t, append(env, "FIXTURE_REWRITE_TRACKED=make_dummy_imagefolder", "TESTFLAGS=-run Test0[0-2]")...)
			require.Regexp(t, tc.want, requireHalted(t, r, 2))
			after, err := os.Stat(base)
			require.NoError(t, err)
			require.Equal(t, before.Size(), after.Size(), "the knob keeps the size")
			require.Equal(t, before.ModTime(), after.ModTime(), "the knob keeps the modification time")
		})
	}
}

// A process that rewrites 04-train's env.json after the step ended, with the same bytes (and,
// the second time, its modification time set back), makes 05 fail: the file is not the one
// 04-train wrote. The process is a git on PATH that does it before the harness's first git
// after 04-train (the guard of the checkout, which follows the step's output snapshot), then
// runs the real git.
func TestRewriteAfterTrainIsSeen(t *testing.T) {
	realGit, err := exec.LookPath("git")
	require.NoError(t, err)
	for _, keepMtime := range []bool{false, true} {
		t.Run(fmt.Sprintf("modification time kept %t", keepMtime), func(t *testing.T) {
			dir, env := fixtureCheckout(t)
			gitInit(t, dir)
			out, once, bin := filepath.Join(dir, "_tmp_run"), filepath.Join(t.TempDir(), "done"), t.TempDir()
			keep := ""
			if keepMtime {
				keep = fmt.Sprintf("touch -r %q %q", filepath.Join(once, "stamp"), filepath.Join(out, "env.json"))
			}
			script := fmt.Sprintf(`#!/bin/sh
if [ -z "$SMOKE_STEP_ID" ] && [ -e %[1]q/checkpoint-2.pt ] && mkdir %[2]q 2>/dev/null; then
  touch -r %[1]q/env.json %[2]q/stamp && cat %[1]q/env.json >%[2]q/copy && cat %[2]q/copy >%[1]q/env.json
  %[3]s
fi
exec %[4]q "$@"
`, out, once, keep, realGit)
			require.NoError(t, os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755))
			r := makeSmoke(t, append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "TESTFLAGS=-run Test0[0-5]")...)
			require.DirExists(t, once, "the rewrite ran")
			require.Equal(t, "05-artifacts: "+filepath.Join(out, "env.json")+" changed after 04-train wrote it", requireHalted(t, r, 5))
			copied, err := os.ReadFile(filepath.Join(once, "copy"))
			require.NoError(t, err)
			require.Equal(t, string(copied), fileText(filepath.Join(out, "env.json")), "the same bytes")
		})
	}
}

// An output directory that holds one empty file from an earlier run stops the run before it
// starts, as one with content does: it is counted, not weighed.
func TestEmptyLeftoverStops(t *testing.T) {
	dir, env := fixtureCheckout(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "_tmp_run"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_tmp_run", "train.log"), nil, 0o644))
	badSettingsRun(t, "leftovers from an earlier run in "+regexp.QuoteMeta(filepath.Join(dir, "_tmp_run"))+` \(1 file\(s\), e\.g\. train\.log\): `,
		append(env, "SMOKE_OUT="+filepath.Join(t.TempDir(), "out"))...)
}

// Under -tags gpu, a GPU lane whose every test was skipped fails even when torch sees no CUDA:
// on a GPU instance that is the fault to report. Strict preflight would stop such a machine at
// 00 (TestFakeGPU), so the lane runs alone, as TESTFLAGS='-run Test03GPULane' runs it.
func TestGPULaneAllSkippedUnderGPUTag(t *testing.T) {
	py := torchPython(t)
	debianPython(t, "pytest")
	r := makeSmoke(t, "SMOKE_PLAN=pytest-lanes", "SMOKE_PYTHON="+py, "GPU=1", "FAKEGPU=1", "TESTFLAGS=-run Test03GPULane")
	require.Len(t, r.sections, 1, "only 03 ran")
	require.Equal(t, "03-gpu-lane: pytest skipped its only test, tests.test_text2image_train_gpu_smoke::test_text2image_train_gpu_smoke: "+
		"CUDA is not available on this machine; a lane with no test run is not a pass", requireHaltedIn(t, r, laneSections, 3))
}

// A pytest test whose fixture raises is an error in pytest's JUnit (<error>, not <failure>):
// the case FAILs and so does the lane, naming it.
func TestPytestErrorFailsTheLane(t *testing.T) {
	r := makeSmoke(t, "SMOKE_PLAN=pytest-lanes", "SMOKE_PYTHON="+debianPython(t, "pytest"),
		"FIXTURE_PYTEST_ERROR=test_smoke_config_values", "TESTFLAGS=-run Test0[0-2]")
	require.Regexp(t, `^02-unit-lane: 1 of \d+ pytest tests failed, first tests.test_config::test_smoke_config_values: `+
		`failed on setup with "RuntimeError: injected fixture error \(FIXTURE_PYTEST_ERROR\) in the setup of test_smoke_config_values"$`,
		requireHaltedIn(t, r, laneSections, 2))
	results := map[string]string{}
	for _, c := range r.sections["Test02UnitLane"].Cases {
		results[c.ID] = c.Result
	}
	require.Equal(t, evidence.Fail, results["tests.test_config::test_smoke_config_values"])
	delete(results, "tests.test_config::test_smoke_config_values")
	require.NotEmpty(t, results)
	for id, res := range results {
		require.Equal(t, evidence.Pass, res, id)
	}
	require.Equal(t, "failed", string(r.cases["Test02UnitLane/tests.test_config::test_smoke_config_values"].Status), "CI's JUnit carries the error as a failure")
}
