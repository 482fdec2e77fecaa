package sdc_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	gpusmoke "github.com/difftrain/gpusmoke"
	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/internal/testenv"
	"github.com/difftrain/gpusmoke/sdc"
)

// uuid is the fake DGX H200's GPU i (gpuenv/gpufake), as the harness pins a GPU's run with it.
func uuid(i int) string { return fmt.Sprintf("GPU-00000000-0000-4000-8000-0000000002%02d", i) }

// trainOn runs the fixture's dataset and training steps as the runbook does, in a workspace of
// its own, with the run pinned to GPU gpu, and returns its results as a comparison member with
// its training log's step rate.
func trainOn(t *testing.T, py, pythonPath string, gpu int, knobs ...string) (sdc.Member, float64) {
	t.Helper()
	ws := t.TempDir()
	require.NoError(t, gpusmoke.WriteFixture(filepath.Join(ws, "difftrain")))
	env := testenv.Clean(append([]string{"PYTHONPATH=" + pythonPath + string(os.PathListSeparator) + filepath.Join(ws, "difftrain", "src"),
		"PYTHONDONTWRITEBYTECODE=1", "CUDA_VISIBLE_DEVICES=" + uuid(gpu)}, knobs...)...)
	logPath := filepath.Join(ws, "04-train.log")
	for _, argv := range [][]string{
		{py, "./difftrain/scripts/make_dummy_imagefolder.py", "--output-dir", "./data/smoke_text2image", "--num-images", "4", "--image-size", "64"},
		{py, "./difftrain/scripts/train_text_to_image.py", "--config", "./difftrain/configs/smoke_text2image.yaml", "--output-dir", "./difftrain/_tmp_run"},
	} {
		log, err := os.Create(logPath)
		require.NoError(t, err)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = ws, env, log, log
		err = cmd.Run()
		require.NoError(t, log.Close())
		out, _ := os.ReadFile(logPath)
		require.NoError(t, err, "%s", out)
	}
	losses, err := artifacts.StepLosses(logPath)
	require.NoError(t, err)
	m := sdc.Member{Name: fmt.Sprintf("gpu%d", gpu), Comparable: true}
	for _, l := range losses {
		m.Losses = append(m.Losses, l.Loss)
	}
	for _, ck := range []string{"checkpoint-1.pt", "checkpoint-2.pt"} {
		ds, err := artifacts.TensorDigests(filepath.Join(ws, "difftrain", "_tmp_run", ck))
		require.NoError(t, err)
		for _, d := range ds {
			m.Tensors = append(m.Tensors, sdc.Digest{Checkpoint: ck, Tensor: d.Name, SHA256: d.SHA256})
		}
	}
	rate, ok := artifacts.StepRate(losses)
	require.True(t, ok, "no step rate in %s", logPath)
	return m, rate
}

// The fixture trains the same numbers in every workspace, so that comparing GPUs means
// something; FIXTURE_ON_GPU applies a knob to the GPU it names only; FIXTURE_PERTURB makes that
// GPU's losses and tensors differ, and the comparison names it, its first step and its first
// tensor; FIXTURE_SLOW_STEP slows that GPU's steps. With real torch (a tiny conv model) and with
// the pretend-CUDA torch (the fixture's standard-library training).
func TestFixtureOnThreeGPUs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips running the fixture")
	}
	py := testenv.DebianPython(t, "torch")
	standins, err := filepath.Abs("../testdata/standins")
	require.NoError(t, err)
	pretend, err := filepath.Abs("../testdata/pretend-cuda")
	require.NoError(t, err)
	knobs := "FIXTURE_ON_GPU=" + uuid(2) + ":FIXTURE_PERTURB=1;" + uuid(1) + ":FIXTURE_SLOW_STEP=0.3"
	for _, tc := range []struct{ name, pythonPath string }{
		{"torch", standins},
		{"pretend-cuda", pretend + string(os.PathListSeparator) + standins},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var members []sdc.Member
			var rates []float64
			for gpu := range 3 {
				m, rate := trainOn(t, py, tc.pythonPath, gpu, knobs)
				members, rates = append(members, m), append(rates, rate)
			}
			r := sdc.Compare(members)
			require.Equal(t, []string{"gpu0", "gpu1"}, r.Majority, "the fixture trains the same in two workspaces")
			require.Len(t, r.Outliers, 1)
			o := r.Outliers[0]
			require.Equal(t, "gpu2", o.Name)
			require.Equal(t, 2, o.FirstStep, "step 1's loss is the same, step 2's is not")
			require.Equal(t, members[0].Losses[1], o.Want)
			got, err := strconv.ParseFloat(o.Loss, 64)
			require.NoError(t, err)
			want, err := strconv.ParseFloat(o.Want, 64)
			require.NoError(t, err)
			require.InDelta(t, 1e-6, got-want, 0.9e-6, "FIXTURE_PERTURB adds 1e-6 to gpu2's step 2 loss, and only to gpu2's")
			require.Equal(t, "checkpoint-1.pt", o.Checkpoint)
			require.Equal(t, "unet.conv_out.bias", o.Tensor)
			require.Less(t, rates[1], 1/0.3+0.1, "FIXTURE_SLOW_STEP=0.3 on gpu1: at most 1/0.3 steps per second")
			d := sdc.Decide(r, sdc.ModeUnset)
			require.True(t, d.Fail, "two that agree against one name it and fail: %s", d.Say)
			require.Contains(t, d.Say, "gpu2 computes differently from the 2 that agree: step 2 loss ")
		})
	}
}
