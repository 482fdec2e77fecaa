package gpusmoke_test

// End-to-end tests of the second built-in plan, difftrain's own pytest lanes, on the fixture:
// make smoke SMOKE_PLAN=pytest-lanes, with the fixture's pytest knobs.

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

var laneSections = []string{"Test00Preflight", "Test01Install", "Test02UnitLane", "Test03GPULane", "Test04LaneArtifacts"}

func TestPytestLanes(t *testing.T) {
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	// The lanes run pytest: Debian's python3-pytest, as CI installs it.
	lanes := []string{"SMOKE_PLAN=pytest-lanes", "SMOKE_PYTHON=" + debianPython(t, "pytest")}
	with := func(env ...string) []string { return append(append([]string{}, lanes...), env...) }

	t.Run("on a CPU the GPU lane is SKIPPED with pytest's reason", func(t *testing.T) {
		r := makeSmoke(t, lanes...)
		require.Equal(t, 0, r.code, r.tail())
		requireDocuments(t, r.out)
		for _, name := range laneSections[:3] {
			res, reason := r.result(t, name)
			require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
		}
		for _, name := range sections[2:] {
			require.NotContains(t, r.cases, name, "a test of the other plan's sections is left out")
		}
		unit := r.sections["Test02UnitLane"]
		require.Greater(t, len(unit.Cases), 5, "pytest's cases are folded under the section")
		for _, c := range unit.Cases {
			require.Equal(t, evidence.Pass, c.Result, c.ID)
		}
		require.Contains(t, strings.Join(unit.Notes, "; "), "pytest: "+evidence.Counts(unit.Cases))
		require.Contains(t, r.cases, "Test02UnitLane/tests.test_config::test_smoke_config_values", "CI's JUnit carries the cases")

		res, reason := r.result(t, "Test03GPULane")
		require.Equal(t, evidence.NA, res, "a GPU lane on a CPU does not apply, as AMP does not")
		require.Contains(t, reason, "tests.test_text2image_train_gpu_smoke::test_text2image_train_gpu_smoke: CUDA is not available on this machine")
		gpu := r.sections["Test03GPULane"]
		require.Len(t, gpu.Cases, 1)
		require.Equal(t, evidence.Case{ID: "tests.test_text2image_train_gpu_smoke::test_text2image_train_gpu_smoke",
			Result: evidence.Skipped, Reason: "CUDA is not available on this machine"}, gpu.Cases[0])
		res, reason = r.result(t, "Test04LaneArtifacts")
		require.Equal(t, evidence.NA, res)
		require.Equal(t, "03-gpu-lane does not apply: no run of the GPU smoke test to check", reason)

		require.FileExists(t, filepath.Join(r.out, evidence.PytestRel("02-unit-lane")))
		cl := r.read(t, evidence.ChecklistFile)
		require.Contains(t, cl, "### 02-unit-lane: "+evidence.Counts(unit.Cases))
		require.Contains(t, r.read(t, evidence.ReportFile), "`CUBLAS_WORKSPACE_CONFIG` unset, `HF_ENDPOINT` unset, `HF_HUB_OFFLINE` unset")
		tmpl := r.read(t, evidence.TemplateFile)
		require.Regexp(t, "\\| Run unit tests \\| `pytest ./difftrain/tests -m \"not slow and not integration\" -v` \\| All pass \\| PASS \\| 02-unit-lane in ", tmpl)
		require.Contains(t, tmpl, "| Completes 2 steps without crash | NA | 03-gpu-lane NA")
	})

	t.Run("pretend CUDA runs the GPU lane and checks its five artifacts", func(t *testing.T) {
		r := makeSmoke(t, with("PYTHONPATH="+pretend)...)
		require.Equal(t, 0, r.code, r.tail())
		for _, name := range laneSections {
			res, reason := r.result(t, name)
			require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
		}
		for _, f := range []string{"env.json", "config.resolved.yaml", "run_manifest.json", "checkpoint-1.pt", "checkpoint-2.pt"} {
			require.FileExists(t, filepath.Join(r.out, evidence.CopyRel("04-lane-artifacts", f)))
		}
		require.Contains(t, r.notes("Test04LaneArtifacts"), "checkpoint-2.pt: global_step 2, fp32")
	})

	t.Run("the GPU lane's artifacts are checked beyond pytest's own assertions", func(t *testing.T) {
		// The test only asserts that the five files exist: a resolved config that is not the
		// source's passes pytest, and fails section 04.
		r := makeSmoke(t, with("PYTHONPATH="+pretend, "HF_TOKEN=hf_Qz7wVb3KpLm9Rt2XcN8dFg4HjY6", "FIXTURE_LEAK_CONFIG=HF_TOKEN")...)
		res, reason := r.result(t, "Test03GPULane")
		require.Equal(t, evidence.Pass, res, reason)
		reason = requireHaltedIn(t, r, laneSections, 4)
		require.Regexp(t, `^04-lane-artifacts: \S+/gpusmoke-pytest/03-gpu-lane/test_text2image_train_gpu_smok0/run/config.resolved.yaml: model.pretrained_model_name_or_path: "https://hf-mirror\S+access_token=\[REDACTED:HF_TOKEN\]…, but \S+/configs/smoke_text2image.yaml sets "hf-internal-testing/tiny-stable-diffusion-pipe"$`, reason)
	})

	t.Run("a failing pytest test fails the lane with its first line", func(t *testing.T) {
		r := makeSmoke(t, with("FIXTURE_PYTEST_FAIL=test_smoke_config_values")...)
		reason := requireHaltedIn(t, r, laneSections, 2)
		require.Regexp(t, `^02-unit-lane: 1 of \d+ pytest tests failed, first tests.test_config::test_smoke_config_values: AssertionError: assert 'FIXTURE_PYTEST_FAIL' not in os.environ`, reason)
		var failed []string
		for _, c := range r.sections["Test02UnitLane"].Cases {
			if c.Result == evidence.Fail {
				failed = append(failed, c.ID)
			}
		}
		require.Equal(t, []string{"tests.test_config::test_smoke_config_values"}, failed)
		require.Contains(t, r.read(t, evidence.ReportFile), "  - FAILED `tests.test_config::test_smoke_config_values` — AssertionError")
		require.FileExists(t, filepath.Join(r.out, evidence.ReproFile))
	})

	t.Run("a lane that collects nothing fails", func(t *testing.T) {
		r := makeSmoke(t, with("FIXTURE_PYTEST_EMPTY=1")...)
		reason := requireHaltedIn(t, r, laneSections, 2)
		require.Equal(t, `02-unit-lane: pytest collected no tests (exit code 5): ./difftrain/tests with -m "not slow and not integration" selects none`, reason)
	})

	t.Run("under -tags gpu an all-skipped GPU lane fails", func(t *testing.T) {
		r := makeSmoke(t, with("GPU=1", "FAKEGPU=1", "PYTHONPATH="+pretend, "HF_HUB_OFFLINE=1")...)
		reason := requireHaltedIn(t, r, laneSections, 3)
		require.Contains(t, reason, "pytest skipped its only test, tests.test_text2image_train_gpu_smoke::test_text2image_train_gpu_smoke: Offline mode enabled; cannot download model weights.; a lane with no test run is not a pass")
		require.Contains(t, r.read(t, evidence.ReportFile), "`HF_HUB_OFFLINE=1`")
		require.Contains(t, r.notes("Test00Preflight"), "CUBLAS_WORKSPACE_CONFIG is unset")
	})

	t.Run("without the tag, torch with CUDA and an all-skipped GPU lane fails", func(t *testing.T) {
		r := makeSmoke(t, with("PYTHONPATH="+pretend, "TRANSFORMERS_OFFLINE=1", "TESTFLAGS=-run Test0[03]")...)
		res, reason := r.result(t, "Test03GPULane")
		require.Equal(t, evidence.Fail, res)
		require.Contains(t, reason, "Offline mode enabled")
	})
}

// go test ./smoke -list . names the built-in plans after the sections' tests.
func TestListPlans(t *testing.T) {
	cmd := exec.Command("go", "test", "./smoke", "-list", ".")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	require.Contains(t, text, "Test02UnitLane\n")
	require.Contains(t, text, "built-in plans (SMOKE_PLAN=<name>; the default is the first):")
	for _, want := range []string{"runbook ", "pytest-lanes ", "00-preflight, 01-install, 02-unit-lane, 03-gpu-lane, 04-lane-artifacts"} {
		require.Contains(t, text, want)
	}
	require.Less(t, strings.Index(text, "  runbook "), strings.Index(text, "  pytest-lanes "))
}
