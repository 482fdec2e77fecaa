package gpusmoke_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/fleet"
	"github.com/difftrain/gpusmoke/view"
	"github.com/stretchr/testify/require"
)

// Node runs (issue 22), end to end through make smoke on the fake DGX H200 (8 GPUs, go-nvml's
// mock, -tags "gpu fakegpu") and the pretend-CUDA torch that follows it. The fixture's knobs
// are keyed on the GPU a run was given (FIXTURE_ON_GPU), as a bad GPU would be.

// h200UUID is the fake DGX H200's GPU n.
func h200UUID(n int) string { return fmt.Sprintf("GPU-00000000-0000-4000-8000-0000000002%02d", n) }

// onGPU is a FIXTURE_ON_GPU entry: a knob that holds on GPU n only.
func onGPU(n int, knob string) string { return h200UUID(n) + ":" + knob }

// makeNode runs make smoke as a node run of the GPUs gpus names, with env added.
func makeNode(t *testing.T, gpus string, env ...string) (smokeRun, *view.Evidence) {
	t.Helper()
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	r := makeSmoke(t, append([]string{"GPU=1", "FAKEGPU=1", "GPUS=" + gpus, "PRETEND_CUDA_GPU=h200",
		"PYTHONPATH=" + pretend}, env...)...)
	e, err := view.Load(r.out)
	require.NoError(t, err, r.tail())
	require.NotNil(t, e.Node, "no node.json: %s", r.tail())
	return r, e
}

// gpuResults are each GPU's result of a section, by GPU directory.
func gpuResults(t *testing.T, e *view.Evidence, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i, g := range e.Node.Info.GPUs {
		s, ok := e.Node.Cell(i, id)
		require.True(t, ok, "%s has no section %s", g.Dir, id)
		out[g.Dir] = s.Result
	}
	return out
}

// Every GPU passes: one node verdict, a complete run per GPU that verifies on its own, and no
// file that two GPUs' runs wrote.
func TestNodeRunAllPass(t *testing.T) {
	r, e := makeNode(t, "0,1,2", "SMOKE_FAKE_GPU=h200")
	require.Equal(t, evidence.ExitPass, r.exit, r.tail())
	require.Equal(t, evidence.Pass, e.Verdict())
	require.Len(t, e.Node.Info.GPUs, 3)
	for i, g := range e.Node.Info.GPUs {
		require.Equal(t, evidence.Pass, e.Node.GPUVerdict(i), "%s: %s", g.Dir, e.Node.GPUFailure(i))
		require.NoError(t, evidence.VerifySums(filepath.Join(r.out, g.Dir)), "%s verifies on its own", g.Dir)
		gpu := e.Node.GPUs[i]
		require.Equal(t, []string{g.Name}, []string{gpu.Env.NVML.GPUs[0].Name}, "%s sees its own GPU only", g.Dir)
		require.Len(t, gpu.Env.NVML.GPUs, 1, "%s sees its own GPU only", g.Dir)
		require.Equal(t, g.UUID, gpu.Run.Env["CUDA_VISIBLE_DEVICES"], "%s is pinned by its UUID", g.Dir)
	}
	require.NoError(t, evidence.VerifySums(r.out), "the node's seal covers every GPU's run")
	require.Equal(t, map[string]string{"gpu0": evidence.Pass, "gpu1": evidence.Pass, "gpu2": evidence.Pass}, gpuResults(t, e, "04-train"))
	for _, name := range []string{"Test04Train/gpu0", "Test04Train/gpu1", "Test04Train/gpu2"} {
		require.Contains(t, r.cases, name, "each GPU's section is its own JUnit testcase")
	}
	junit := r.read(t, evidence.JUnitFile)
	require.Contains(t, junit, `<testsuite name="smoke/gpu2"`, "CI shows each GPU in its testsuite")
	require.Contains(t, r.read(t, evidence.ChecklistFile), "| 04-train | PASS | PASS | PASS |")
	requireOwnFiles(t, r.out, e)
}

// requireOwnFiles: no two GPUs' runs wrote the same file. Each GPU's run writes its evidence
// (gpu<N>/) and its workspace (gpusmoke-gpus/gpu<N>/); its outputs name its workspace only; and
// the shared checkout, which every run reads, holds no file written after the node's install.
func requireOwnFiles(t *testing.T, out string, e *view.Evidence) {
	t.Helper()
	install, err := os.Stat(filepath.Join(out, evidence.LogRel("01-install")))
	require.NoError(t, err)
	for i, g := range e.Node.Info.GPUs {
		run := e.Node.GPUs[i].Run
		require.Equal(t, filepath.Join(out, g.Dir), run.Out)
		require.Equal(t, g.Workspace, run.Workspace)
		for j, other := range e.Node.Info.GPUs {
			if i != j {
				require.False(t, strings.HasPrefix(g.Workspace+"/", other.Workspace+"/"), "%s and %s share a workspace", g.Dir, other.Dir)
			}
		}
		manifest, err := os.ReadFile(filepath.Join(g.Workspace, "difftrain", "_tmp_run", "run_manifest.json"))
		require.NoError(t, err)
		require.Contains(t, string(manifest), g.Workspace+"/difftrain/_tmp_run", "%s's training wrote into its own workspace", g.Dir)
		for _, other := range e.Node.Info.GPUs {
			if other.Dir != g.Dir {
				require.NotContains(t, string(manifest), other.Workspace+"/", "%s's outputs name %s's workspace", g.Dir, other.Dir)
			}
		}
	}
	shared := e.Run.DifftrainDir
	err = filepath.WalkDir(shared, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.ModTime().After(install.ModTime().Add(time.Second)) {
			return fmt.Errorf("%s was written after the node's install, while the GPUs ran", p)
		}
		return err
	})
	require.NoError(t, err)
}

// One GPU's training fails, one has an Xid, one is slow: the others finish, the node fails, and
// its report names each of them.
func TestNodeRunNamesEachBadGPU(t *testing.T) {
	r, e := makeNode(t, "0,1,2,3", "SMOKE_FAKE_GPU=h200,xid=79@2",
		"FIXTURE_ON_GPU="+onGPU(1, "FIXTURE_FAIL=train_text_to_image")+";"+onGPU(3, "FIXTURE_SLOW_STEP=3"))
	require.Equal(t, evidence.ExitFailed, r.exit, r.tail())
	require.Equal(t, evidence.Fail, e.Verdict())
	require.Equal(t, map[string]string{"gpu0": evidence.Pass, "gpu1": evidence.Fail, "gpu2": evidence.Skipped, "gpu3": evidence.Pass},
		gpuResults(t, e, "04-train"), "a failure halts its own GPU's run only")
	require.Equal(t, evidence.Pass, e.Node.GPUVerdict(0))
	require.Equal(t, evidence.Pass, e.Node.GPUVerdict(3), "slow is a warning by default (SMOKE_SLOW=warn)")
	report := r.read(t, evidence.ReportFile)
	require.Contains(t, report, "2 of 4 GPUs failed.")
	require.Contains(t, report, "gpu1 (NVIDIA H200 141GB HBM3e, "+h200UUID(1)+"): **FAIL** — 04-train: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL)")
	require.Regexp(t, `gpu2 \(NVIDIA H200 141GB HBM3e, `+h200UUID(2)+`\): \*\*FAIL\*\* — 0\d-\w+: GPU Xid error \\\[79\\\]`, report)
	require.Regexp(t, `slow \(warning\): GPU 3 trained in \d+\.\d s, \d+\.\d times the node's median`, report)
	s, err := evidence.ReadSummary(r.out)
	require.NoError(t, err)
	require.Equal(t, 2, s.Node.BadGPUs)
	require.Contains(t, r.read(t, evidence.PromFile), `gpusmoke_gpu_failed{gpu="1",uuid="`+h200UUID(1)+`"} 1`)
}

// A GPU that computes differently (FIXTURE_PERTURB on it: one tensor's value and step 2's loss
// differ slightly, and every other check passes): on three GPUs the two that agree name it and
// fail the node, with its first step and first tensor; on two, no majority names either, and
// the node warns.
func TestNodeRunNamesTheGPUThatComputesDifferently(t *testing.T) {
	perturb := "FIXTURE_ON_GPU=" + onGPU(2, "FIXTURE_PERTURB=1")
	r, e := makeNode(t, "0,1,2", "SMOKE_FAKE_GPU=h200", perturb)
	require.Equal(t, evidence.ExitFailed, r.exit, r.tail())
	for i := range e.Node.Info.GPUs {
		require.Equal(t, evidence.Pass, e.Node.GPUVerdict(i), "every GPU's own run passes")
	}
	require.Equal(t, []int{2}, e.Node.BadGPUs())
	report := r.read(t, evidence.ReportFile)
	require.Regexp(t, `sdc \(\*\*fails the node\*\*\): gpu2 computes differently from the 2 that agree: step 2 loss \d\.\d+, the others \d\.\d+; \d+ of \d+ tensors differ, first unet\.conv_out\.bias in checkpoint-1\.pt`, report)

	r, e = makeNode(t, "0,2", "SMOKE_FAKE_GPU=h200", perturb)
	require.Equal(t, evidence.ExitPass, r.exit, "two GPUs that differ warn: %s", r.tail())
	require.Empty(t, e.Node.BadGPUs())
	require.Contains(t, r.read(t, evidence.ReportFile), `sdc (warning): the runs differ and no majority agrees (gpu0 \| gpu2): no run can be named`)
}

// The fleet report reads node runs GPU by GPU: each bad GPU is a failure of its own, grouped by
// reason across nodes, counted among the bad GPUs and drawn in the nodes × GPUs table; and the
// runs' results are compared across nodes of one GPU model, driver and torch, so that a node
// that computes differently from the others (here a run of one GPU) is flagged.
func TestFleetOfNodeRuns(t *testing.T) {
	good, _ := makeNode(t, "0,1,2", "SMOKE_FAKE_GPU=h200")
	bad, _ := makeNode(t, "0,1,2", "SMOKE_FAKE_GPU=h200", "FIXTURE_ON_GPU="+onGPU(1, "FIXTURE_FAIL=train_text_to_image"))
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	odd := makeSmoke(t, "GPU=1", "FAKEGPU=1", "SMOKE_FAKE_GPU=h200", "PRETEND_CUDA_GPU=h200", "PYTHONPATH="+pretend, "FIXTURE_PERTURB=1")
	require.Equal(t, evidence.ExitPass, odd.exit, "a run of one GPU has nothing to compare with: %s", odd.tail())

	root := t.TempDir()
	var dirs []string
	for i, r := range []smokeRun{good, bad, odd} {
		d := filepath.Join(root, fmt.Sprintf("n%d", i+1))
		require.NoError(t, os.Rename(r.out, d))
		dirs = append(dirs, d)
	}
	md := filepath.Join(root, fleet.File)
	f, _, err := fleet.Write(md, fleet.Members(dirs), view.Options{})
	require.NoError(t, err)
	require.Equal(t, evidence.Fail, f.Verdict)
	require.Equal(t, 6, f.GPUs)
	require.Equal(t, 1, f.BadGPUs)
	b, err := os.ReadFile(md)
	require.NoError(t, err)
	report := string(b)
	require.Contains(t, report, "- **1 GPU** FAIL in `04-train`: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL) — n2/gpu1\n")
	require.Contains(t, report, "Bad GPUs: 1 of 6 GPUs on 2 node runs.")
	require.Contains(t, report, "| [n2](n2/checklist.md) | gpu0 PASS | gpu1 **FAIL** | gpu2 PASS |")
	require.Regexp(t, `NVIDIA H200 141GB HBM3e, driver 550\.54\.15, torch 2\.4\.0\+pretend \(\*\*fails the fleet\*\*\): n3 computes differently from the 2 that agree: step 2 loss .* — computes differently: n3`, report)
}

// Ctrl-C during a node run reaches every GPU's run: each marks its running section INTERRUPTED
// and keeps its evidence, the node renders its documents, and no step's process is left.
func TestNodeRunInterrupted(t *testing.T) {
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	w := startSmoke(t, "GPU=1", "FAKEGPU=1", "GPUS=0,1", "SMOKE_FAKE_GPU=h200", "PRETEND_CUDA_GPU=h200",
		"PYTHONPATH="+pretend, "FIXTURE_HANG=train_text_to_image")
	for _, gpu := range []string{"gpu0", "gpu1"} {
		p := filepath.Join(w.out, gpu, evidence.LogRel("04-train"))
		w.waitFor(gpu+"'s training to hang", func() string { return fileText(p) }, regexp.MustCompile(`hanging \(FIXTURE_HANG\)`), 3*time.Minute)
	}
	require.NoError(t, syscall.Kill(-w.cmd.Process.Pid, syscall.SIGINT)) // what a terminal's Ctrl-C does
	r := w.wait(3 * time.Minute)
	out := r.out
	require.Equal(t, evidence.ExitFailed, r.exit, "an interrupted run never exits 0: %s", r.tail())
	e, err := view.Load(out)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"gpu0": evidence.Interrupted, "gpu1": evidence.Interrupted}, gpuResults(t, e, "04-train"))
	for i, g := range e.Node.Info.GPUs {
		require.NoError(t, evidence.VerifySums(filepath.Join(out, g.Dir)), "%s kept its evidence", g.Dir)
		require.Equal(t, evidence.Interrupted, e.Node.GPUVerdict(i))
		requireNoProcessIn(t, g.Workspace)
	}
	require.Contains(t, r.read(t, evidence.ReportFile), "## GPUs")
}

// Leftovers work per GPU: a second node run on the same checkout finds the first's GPU
// workspaces and stops, naming them, before anything runs; SMOKE_LEFTOVERS=move moves them in.
func TestNodeRunLeftovers(t *testing.T) {
	dir, env := fixtureCheckout(t)
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	for i, p := range env {
		if v, ok := strings.CutPrefix(p, "PYTHONPATH="); ok {
			env[i] = "PYTHONPATH=" + v + string(os.PathListSeparator) + pretend
		}
	}
	env = append(env, "GPU=1", "FAKEGPU=1", "GPUS=0,1", "SMOKE_FAKE_GPU=h200", "PRETEND_CUDA_GPU=h200", "TESTFLAGS=-run Test0[0-2]")
	r := makeSmoke(t, env...)
	require.Equal(t, evidence.ExitIncomplete, r.exit, r.tail())
	root := filepath.Join(filepath.Dir(dir), evidence.GPUWorkspaces)
	require.DirExists(t, filepath.Join(root, "gpu1", "data", "smoke_text2image"), "the first run's GPU workspaces stay")

	out := makeSmokeRefused(t, env...)
	require.Contains(t, out, "leftovers from an earlier run in "+root)

	r = makeSmoke(t, append(env, "SMOKE_LEFTOVERS=move")...)
	require.Equal(t, evidence.ExitIncomplete, r.exit, r.tail())
	require.DirExists(t, filepath.Join(r.out, evidence.LeftoversDir), r.tail())
}

// A run of one GPU on a machine with eight says how many it did not exercise, and how to.
func TestOneRunNotesTheOtherGPUs(t *testing.T) {
	pretend, err := filepath.Abs("testdata/pretend-cuda")
	require.NoError(t, err)
	r := makeSmoke(t, "GPU=1", "FAKEGPU=1", "SMOKE_FAKE_GPU=h200", "PRETEND_CUDA_GPU=h200", "PYTHONPATH="+pretend, "TESTFLAGS=-run Test00")
	require.Contains(t, r.notes("Test00Preflight"), "NVML sees 8 GPUs and this run exercised one, the GPU torch picks: SMOKE_GPUS=all (GPUS=all make smoke) runs the plan on each of them (on those CUDA_VISIBLE_DEVICES names, when it names fewer)")
}
