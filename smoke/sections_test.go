package smoke

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/runner"
)

// The checklist's sections, one test each, in the runbook's order. Each test runs the step of
// the plan that names it (runbook.Step.Test: "Test", the section's number, the step's name):
// the runbook's plan has Test00 to Test08; the pytest lanes' plan shares 00 and 01 and numbers
// its own 02 to 04 (Test02UnitLane beside the runbook's Test02Dataset), told apart by the name.
// TestMain leaves out the tests of another plan's steps. Each calls Fatalf to halt the run;
// every later section then skips with "blocked by <section>". Adding a section is a step in
// the plan (runbook/*.yaml), its test here, and the fixture's behaviour.

func Test00Preflight(t *testing.T) {
	suite.Section(t, func(c *Section) {
		c.Checked(evidence.GPUEnvFile, evidence.NvidiaSMIFile)
		f := c.Suite.Facts
		if c.Suite.FactsErr != nil {
			c.Fatalf("preflight: %v", c.Suite.FactsErr)
		}
		// The facts are the checklist's Environment table (gpu_env.json): said there once, and
		// only shown here as they are found.
		for _, g := range f.NVML.GPUs {
			c.Logf("GPU %d: %s, %d MiB, driver %s, CUDA %s", g.Index, g.Name, g.MemoryTotalBytes>>20, f.NVML.DriverVersion, f.NVML.CUDADriverVersion)
		}
		if f.NVML.Error != "" {
			c.Logf("%s", f.NVML.Error)
		}
		c.Logf("python %s, torch %s (CUDA build %s, cuda available %t)", f.Python.Version, f.Python.Torch.Version, orNone(f.Python.Torch.CUDA), f.Python.Torch.CUDAAvailable)
		for _, n := range f.Notes {
			c.Logf("%s", n)
		}
		if err := runner.StepCgroups(); err != nil {
			c.Notef("steps run without a cgroup of their own: %v; a step's processes are found by its session, its marker and its output pipe only (README, Limits)", err)
		}
		if _, set := os.LookupEnv("CUBLAS_WORKSPACE_CONFIG"); len(f.NVML.GPUs) > 0 && !set {
			c.Notef("CUBLAS_WORKSPACE_CONFIG is unset: deterministic CUDA runs need it (export CUBLAS_WORKSPACE_CONFIG=:4096:8, or :16:8); difftrain's set_seed only sets a default inside its own process")
		}
		for _, h := range f.Health {
			if h.Severity == gpuenv.Note {
				c.Logf("health: %s", h.Message)
			}
		}
		if n := len(f.NVML.GPUs); n > 1 && c.Suite.node == nil {
			c.Notef("NVML sees %d GPUs and this run exercised one, the GPU torch picks: SMOKE_GPUS=all (GPUS=all make smoke) runs the plan on each of them (on those CUDA_VISIBLE_DEVICES names, when it names fewer)", n)
		}
		if fatal := c.fatalHealth(); len(fatal) > 0 {
			var msgs []string
			for _, h := range fatal {
				msgs = append(msgs, h.Message)
			}
			c.Fatalf("preflight: GPU health: %s", strings.Join(msgs, "; "))
		}
		if f.Python.Error != "" {
			c.Fatalf("preflight: python %s: %s", c.Suite.Settings.Python, f.Python.Error)
		}
		if len(f.NVML.GPUs) == 0 {
			c.Qualify("no NVIDIA GPU found: a CPU-only run")
		}
	})
}

func Test01Install(t *testing.T) {
	suite.Section(t, func(c *Section) { c.install() })
}

func Test02Dataset(t *testing.T) {
	suite.Section(t, func(c *Section) {
		out := c.flagPath("--output-dir")
		n, size := c.flagInt("--num-images"), c.flagInt("--image-size")
		c.Run()
		if err := artifacts.CheckDataset(out, n, size); err != nil {
			c.Fatalf("dataset: %v", err)
		}
		// The runbook: the dataset root "must match config".
		cfg := c.trainConfig()
		root, err := artifacts.ConfigString(cfg, "data.data_root")
		if err != nil {
			c.Fatalf("dataset: %v", err)
		}
		if want := c.Path(root); filepath.Clean(want) != filepath.Clean(out) {
			c.Fatalf("dataset: written to %s, but %s has data.data_root %q (%s)", out, cfg, root, want)
		}
		files := []string{filepath.Join(out, artifacts.MetadataFile)}
		for i := range n {
			files = append(files, filepath.Join(out, fmt.Sprintf("%05d.png", i)))
		}
		c.requireWrittenBy(c.Step.ID(), files...)
		c.Notef("%d PNGs of %dx%d and metadata.jsonl at %s (= data.data_root)", n, size, size, root)
	})
}

func Test03Validate(t *testing.T) {
	suite.Section(t, func(c *Section) {
		c.Run()
		out := c.flagPath("--output-dir")
		c.requireFiles(out, reproFiles...)
		c.requireWrittenBy(c.Step.ID(), joinAll(out, reproFiles)...)
		c.checkRepro(out, c.flagPath("--config"), c.command())
		c.keep(out, reproFiles...)
		c.Notef("%s verified in %s", strings.Join(reproFiles, ", "), c.Step.Flag("--output-dir"))
	})
}

func Test04Train(t *testing.T) {
	suite.Section(t, func(c *Section) {
		c.Run()
		out := c.flagPath("--output-dir")
		steps := c.configInt(c.trainConfig(), "train.max_steps")
		if err := artifacts.CheckCompleted(c.Out(c.LogRel()), steps); err != nil {
			c.Fatalf("train: %v", err)
		}
		c.keep(out, append(reproFiles, c.checkpoints()...)...)
		c.recordComputed(out, c.checkpoints())
	})
}

func Test05Artifacts(t *testing.T) {
	suite.Section(t, func(c *Section) {
		train := c.planStep("train")
		out, cfg := c.Path(train.Flag("--output-dir")), c.Path(train.Flag("--config"))
		trainCmd := c.commandOf(train)
		ckpts := c.checkpoints()
		files := append(append([]string{}, reproFiles...), ckpts...)
		c.requireFiles(out, files...)
		// The files must be the ones 04's command wrote in this run. When 05 runs alone, the
		// repro files may be 04's or, after a resume, 06's: env.json's argv says whose, and the
		// checks follow that command's flags.
		writer := trainCmd
		c.requireWrittenBy(train.ID(), joinAll(out, files)...)
		if !c.ranInThisRun(train.ID()) {
			writer = c.writerOf(out, train, c.planStep("resume"))
		}
		resolved := c.checkRepro(out, cfg, writer)
		c.checkCheckpoints(out, cfg, trainCmd, writer, resolved, "", ckpts)
		if log := c.Out(evidence.LogRel(train.ID())); c.ranInThisRun(train.ID()) {
			if err := artifacts.CheckSaved(log, train.Flag("--output-dir"), ckpts); err != nil {
				c.Fatalf("artifacts: %v", err)
			}
		}
		c.Notef("%s verified in %s", strings.Join(files, ", "), train.Flag("--output-dir"))
	})
}

func Test02UnitLane(t *testing.T) {
	suite.Section(t, func(c *Section) { c.lane(false) })
}

func Test03GPULane(t *testing.T) {
	suite.Section(t, func(c *Section) { c.lane(true) })
}

func Test04LaneArtifacts(t *testing.T) {
	suite.Section(t, func(c *Section) {
		gpu := c.planStep("gpu-lane")
		if r := c.Suite.result(gpu.ID()); r == evidence.NA {
			c.NotApplicable("%s does not apply: no run of the GPU smoke test to check", gpu.ID())
		}
		// The test writes its run into <tmp_path>/run, and pytest's tmp_path is a directory of
		// the lane's --basetemp named after the test (pytest adds a symlink "<name>current" to
		// the newest, which is not another run).
		base := c.laneTemp(gpu)
		matches, _ := filepath.Glob(filepath.Join(base, "*", "run", artifacts.EnvJSONFile))
		var envs []string
		for _, m := range matches {
			if fi, err := os.Lstat(filepath.Dir(filepath.Dir(m))); err == nil && fi.IsDir() {
				envs = append(envs, m)
			}
		}
		if len(envs) != 1 {
			c.Fatalf("lane-artifacts: %d runs of the GPU smoke test (%s) under %s, want 1: each writes <tmp_path>/run/%s",
				len(envs), artifacts.GPUSmokeTestFile, base, artifacts.EnvJSONFile)
		}
		// pytest resolves --basetemp, so tmp_path, and the paths the test writes, are real paths.
		out, err := filepath.EvalSymlinks(filepath.Dir(envs[0]))
		if err != nil {
			c.Fatalf("lane-artifacts: %v", err)
		}
		cfg := filepath.Join(c.Suite.Settings.DifftrainDir, "configs", "smoke_text2image.yaml")
		steps := min(c.configInt(cfg, "train.max_steps"), 2)
		var ckpts []string
		for n := 1; n <= steps; n++ {
			ckpts = append(ckpts, fmt.Sprintf("checkpoint-%d.pt", n))
		}
		files := append(append([]string{}, reproFiles...), ckpts...)
		c.requireFiles(out, files...)
		c.requireWrittenBy(gpu.ID(), joinAll(out, files)...)
		argv := c.laneArgv(gpu)
		if !c.ranInThisRun(gpu.ID()) {
			// An earlier run's lane: its --junitxml named that run's evidence directory.
			argv = c.earlierLane(gpu, out)
		}
		writer := artifacts.GPUSmokeTest(argv, filepath.Dir(out), steps)
		resolved := c.checkRepro(out, cfg, writer)
		c.checkCheckpoints(out, cfg, writer, writer, resolved, "", ckpts)
		c.keep(out, files...)
		c.Notef("%s verified in %s", strings.Join(files, ", "), out)
	})
}

func Test06Resume(t *testing.T) {
	suite.Section(t, func(c *Section) {
		out := c.flagPath("--output-dir")
		from := c.flagPath("--resume-from")
		// The resume rewrites the repro artifacts in place: keep section 04's first.
		c.keepAs("before", out, reproFiles...)
		ckpts := c.checkpoints()
		before, err := evidence.HashFiles(joinAll(out, ckpts)...)
		if err != nil {
			c.Fatalf("resume: %v", err)
		}
		c.Run()
		steps := c.configInt(c.trainConfig(), "train.max_steps")
		if filepath.Base(from) != fmt.Sprintf("checkpoint-%d.pt", steps) {
			c.Notef("the plan resumes from %s, not from the last checkpoint", from)
		}
		if err := artifacts.CheckResume(c.Out(c.LogRel()), steps); err != nil {
			c.Fatalf("resume: %v", err)
		}
		after, err := evidence.HashFiles(joinAll(out, ckpts)...)
		if err != nil {
			c.Fatalf("resume: %v", err)
		}
		if diff := evidence.DiffHashes(before, after); len(diff) > 0 {
			c.Fatalf("resume: the resume touched the checkpoints: %s", strings.Join(diff, ", "))
		}
		// The resume rewrites env.json, config.resolved.yaml and the manifest, with
		// train.resume_from set from its flag.
		c.requireFiles(out, reproFiles...)
		c.requireWrittenBy(c.Step.ID(), joinAll(out, reproFiles)...)
		c.checkRepro(out, c.flagPath("--config"), c.command())
		c.keepAs("after", out, reproFiles...)
		c.Notef("resumed from %s at global_step=%d; %s unchanged; %s rewritten with train.resume_from set",
			filepath.Base(from), steps, strings.Join(ckpts, ", "), strings.Join(reproFiles, ", "))
	})
}

func Test07AMPFP16(t *testing.T) {
	suite.Section(t, func(c *Section) { c.amp("fp16") })
}

func Test08AMPBF16(t *testing.T) {
	suite.Section(t, func(c *Section) { c.amp("bf16") })
}
