package smoke

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/runner"
)

// The checklist's sections, in the runbook's order. Each calls Fatalf to halt the run; every
// later section then skips with "blocked by <section>".

func Test00Preflight(t *testing.T) {
	suite.Section(t, "preflight", func(c *Section) {
		c.Checked(gpuenv.FileName, evidence.NvidiaSMIFile)
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
		if fatal := f.Fatal(); len(fatal) > 0 {
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

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func Test01Install(t *testing.T) {
	suite.Section(t, "install", func(c *Section) { c.Run() })
}

func Test02Dataset(t *testing.T) {
	suite.Section(t, "dataset", func(c *Section) {
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
	suite.Section(t, "validate", func(c *Section) {
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
	suite.Section(t, "train", func(c *Section) {
		c.Run()
		out := c.flagPath("--output-dir")
		steps := c.configInt(c.trainConfig(), "train.max_steps")
		if err := artifacts.CheckCompleted(c.Out(c.LogRel()), steps); err != nil {
			c.Fatalf("train: %v", err)
		}
		c.keep(out, append(reproFiles, c.checkpoints()...)...)
	})
}

func Test05Artifacts(t *testing.T) {
	suite.Section(t, "artifacts", func(c *Section) {
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
		if log := c.Out(logRel(train)); c.ranInThisRun(train.ID()) {
			if err := artifacts.CheckSaved(log, train.Flag("--output-dir"), ckpts); err != nil {
				c.Fatalf("artifacts: %v", err)
			}
		}
		c.Notef("%s verified in %s", strings.Join(files, ", "), train.Flag("--output-dir"))
	})
}

// The pytest lanes plan's sections (difftrain's newer runbook): 00 and 01 are the tests above.

func Test02UnitLane(t *testing.T) {
	suite.Section(t, "unit-lane", func(c *Section) { c.lane(false) })
}

func Test03GPULane(t *testing.T) {
	suite.Section(t, "gpu-lane", func(c *Section) { c.lane(true) })
}

func Test04LaneArtifacts(t *testing.T) {
	suite.Section(t, "lane-artifacts", func(c *Section) {
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

// earlierLane is the lane's command as an earlier run ran it, which wrote the run in out: the
// plan's, with the --junitxml env.json records.
func (c *Section) earlierLane(lane runbook.Step, out string) []string {
	env, err := artifacts.ReadEnvJSON(filepath.Join(out, artifacts.EnvJSONFile))
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	junit, _ := artifacts.Command{Module: "pytest", Argv: env.Argv}.Flag("--junitxml")
	return c.laneArgvTo(lane, junit)
}

func Test06Resume(t *testing.T) {
	suite.Section(t, "resume", func(c *Section) {
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
	suite.Section(t, "amp-fp16", func(c *Section) { c.amp("fp16") })
}

func Test08AMPBF16(t *testing.T) {
	suite.Section(t, "amp-bf16", func(c *Section) { c.amp("bf16") })
}

// reproFiles are the artifacts difftrain writes before it trains.
var reproFiles = []string{"env.json", "config.resolved.yaml", "run_manifest.json"}

// amp runs the training with train.precision set to p in a temporary config, as the runbook's
// optional AMP tests do, and proves the GPU ran p.
func (c *Section) amp(p string) {
	train := c.planStep("train")
	if cuda, torch := c.torchCUDA(c.Path(train.Flag("--output-dir"))); !cuda {
		c.NotApplicable("torch sees no CUDA (%s): AMP %s needs a GPU", torch, p)
	}
	tmp := c.flagPath("--config")
	allowed := c.Path(train.Flag("--output-dir"))
	inside := filepath.Dir(tmp) == filepath.Clean(allowed)
	c.Suite.guard("temporary configs only under "+train.Flag("--output-dir")+"/", inside, tmp)
	if !inside {
		c.Fatalf("%s: the temporary config %s must be under %s (runbook guardrail)", c.Step.ID(), tmp, allowed)
	}
	if err := artifacts.SetPrecision(c.trainConfig(), tmp, p); err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	c.Suite.mu.Lock()
	c.Suite.Info.TempConfigs = append(c.Suite.Info.TempConfigs, tmp)
	c.Suite.mu.Unlock()
	c.Notef("temporary config %s (train.precision: %s)", tmp, p)
	c.Run()
	fallback, fellBack, err := artifacts.Fallback(c.Out(c.LogRel()))
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	out := c.flagPath("--output-dir")
	files := append(append([]string{}, reproFiles...), c.checkpoints()...)
	c.requireFiles(out, files...)
	c.requireWrittenBy(c.Step.ID(), joinAll(out, files)...)
	// The files are checked as a fallback leaves them (the resolved config keeps p, the
	// checkpoints record fp32), so that a wrong file is named before the fallback fails the section.
	effective := p
	if fellBack {
		effective = "fp32"
	}
	cmd := c.command()
	resolved := c.checkRepro(out, tmp, cmd)
	c.checkCheckpoints(out, tmp, cmd, cmd, resolved, effective, c.checkpoints())
	c.keep(out, files...)
	if fellBack {
		c.Fatalf("%s: the GPU did not run %s: difftrain fell back to fp32: %s", c.Step.ID(), p, fallback)
	}
}

// trainConfig is the config the training step uses.
func (c *Section) trainConfig() string { return c.Path(c.planStep("train").Flag("--config")) }

// planStep is the plan's step of that name.
func (c *Section) planStep(name string) runbook.Step {
	st, err := c.Suite.Settings.Plan.Step(name)
	if err != nil {
		c.Fatalf("%v", err)
	}
	return st
}

// command is this section's command as difftrain sees it.
func (c *Section) command() artifacts.Command { return c.commandOf(c.Step) }

func (c *Section) commandOf(st runbook.Step) artifacts.Command {
	return artifacts.ParseCommand(st.Argv(c.Suite.Settings.Python))
}

// ranInThisRun says whether step's command ran in this process.
func (c *Section) ranInThisRun(step string) bool {
	c.Suite.mu.Lock()
	defer c.Suite.mu.Unlock()
	_, ok := c.Suite.written[step]
	return ok
}

// writerOf finds which of the steps' commands wrote the repro artifacts in out, by env.json's argv.
func (c *Section) writerOf(out string, steps ...runbook.Step) artifacts.Command {
	env, err := artifacts.ReadEnvJSON(filepath.Join(out, artifacts.EnvJSONFile))
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	var names []string
	for _, st := range steps {
		cmd := c.commandOf(st)
		if env.WrittenBy(cmd) == nil {
			c.Notef("the repro artifacts in %s were written by %s's command", st.Flag("--output-dir"), st.ID())
			return cmd
		}
		names = append(names, st.ID())
	}
	c.Fatalf("%s: %s: argv: %s is none of the plan's commands that write there (%s)", c.Step.ID(), env.Path,
		evidence.Quote(env.Argv), strings.Join(names, ", "))
	return artifacts.Command{}
}

// requireFiles fails the section unless each name is a non-empty file in dir.
func (c *Section) requireFiles(dir string, names ...string) {
	c.T.Helper()
	for _, f := range joinAll(dir, names) {
		st, err := os.Stat(f)
		switch {
		case err != nil:
			c.Fatalf("%s: %s is missing", c.Step.Name, f)
		case st.Size() == 0:
			c.Fatalf("%s: %s is empty", c.Step.Name, f)
		}
	}
}

// logRel is a step's log, relative to SMOKE_OUT.
func logRel(st runbook.Step) string { return filepath.Join(evidence.LogsDir, st.ID()+".log") }

func (c *Section) flagPath(flag string) string {
	v := c.Step.Flag(flag)
	if v == "" {
		c.Fatalf("%s: the plan's command has no %s", c.Step.ID(), flag)
	}
	return c.Path(v)
}

func (c *Section) flagInt(flag string) int {
	v, err := strconv.Atoi(c.Step.Flag(flag))
	if err != nil {
		c.Fatalf("%s: the plan's command has no whole number after %s", c.Step.ID(), flag)
	}
	return v
}

func (c *Section) configInt(cfg, key string) int {
	v, err := artifacts.ConfigInt(cfg, key)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	return v
}

// checkpoints are the files checkpoint-N.pt the training config's steps produce.
func (c *Section) checkpoints() []string {
	cfg := c.trainConfig()
	every, last := c.configInt(cfg, "train.checkpointing_steps"), c.configInt(cfg, "train.max_steps")
	var names []string
	for n := every; every > 0 && n <= last; n += every {
		names = append(names, fmt.Sprintf("checkpoint-%d.pt", n))
	}
	return names
}

// checkRepro proves env.json, config.resolved.yaml and run_manifest.json in out right for the
// command that wrote them with the source config cfg, and returns the resolved config.
func (c *Section) checkRepro(out, cfg string, writer artifacts.Command) map[string]any {
	c.T.Helper()
	su := c.Suite
	env, err := artifacts.ReadEnvJSON(filepath.Join(out, artifacts.EnvJSONFile))
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	if err := env.WrittenBy(writer); err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	if gpus := su.Facts.NVML.GPUs; len(gpus) > 0 && !env.CUDAAvailable {
		c.Fatalf("%s: %s: cuda_available is false, but NVML sees %d GPU(s) (%s): torch %s cannot use the GPU, so the step ran on the CPU",
			c.Step.ID(), env.Path, len(gpus), gpus[0].Name, env.TorchVersion)
	}
	if env.CUDAAvailable {
		su.mu.Lock()
		su.cudaSeen = true
		su.mu.Unlock()
	}
	if su.Settings.GPU {
		var want artifacts.GPU
		if g := su.Facts.NVML.GPUs; len(g) > 0 {
			want = artifacts.GPU{Name: g[0].Name, MemoryBytes: g[0].MemoryTotalBytes}
		}
		if err := env.CheckGPU(want); err != nil {
			c.Fatalf("%s: %v", c.Step.ID(), err)
		}
	}
	want, err := artifacts.ExpectFor(writer, cfg)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	resolved, err := artifacts.CheckResolvedConfig(filepath.Join(out, artifacts.ResolvedConfigFile), cfg, want)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	if err := artifacts.CheckManifestOf(filepath.Join(out, artifacts.ManifestFile), out, cfg, writer); err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	return resolved
}

// checkCheckpoints reads each checkpoint's payload and checks step, precision, scaler and
// config. ckWriter is the command that wrote the checkpoints, reproWriter the one that last
// wrote the resolved config (the same, or the resume): the checkpoints' config is the resolved
// config with ckWriter's flags, and train.precision the precision the run trained in
// (precision, or the source config's when "").
func (c *Section) checkCheckpoints(out, cfg string, ckWriter, reproWriter artifacts.Command, resolved map[string]any, precision string, names []string) {
	c.T.Helper()
	want, err := artifacts.ExpectFor(ckWriter, cfg)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	if precision != "" {
		want.Precision = precision
	}
	values := map[string]any{"train.precision": want.Precision}
	for key := range reproWriter.Overrides() {
		values[key] = artifacts.Defaults[key] // the source's value, unless ckWriter's flag sets it below
		if v, err := artifacts.ConfigString(cfg, key); err == nil {
			values[key] = v
		}
	}
	for key, v := range want.Overrides {
		values[key] = v
	}
	expected := artifacts.WithValues(resolved, values)
	for _, name := range names {
		var step int
		fmt.Sscanf(name, "checkpoint-%d.pt", &step)
		ck, err := artifacts.CheckCheckpoint(filepath.Join(out, name), step, want.Precision, expected)
		if err != nil {
			c.Fatalf("%s: %v", c.Step.ID(), err)
		}
		c.Notef("%s: global_step %d, %s, %d tensors (%s), %d KiB of storage", name, ck.GlobalStep, ck.Precision,
			ck.Tensors, strings.Join(ck.DTypes(), ", "), ck.StorageBytes()>>10)
	}
}

// keep copies the files of dir that exist into SMOKE_OUT/artifacts/<section>/. A missing file
// is not this copy's to report: section 05 checks that every artifact is there.
func (c *Section) keep(dir string, names ...string) { c.keepAs("", dir, names...) }

func (c *Section) keepAs(sub, dir string, names ...string) {
	var files []string
	for _, p := range joinAll(dir, names) {
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	rel := filepath.Join(c.Step.ID(), sub)
	// JSON copies are redacted string by string (they stay valid JSON), YAML as text; a binary
	// file (a checkpoint) that holds a secret is referenced by its sha256, not copied.
	written, found, err := evidence.CopyRedacted(c.Suite.Settings.Out, rel, c.Suite.Settings.CopyCap, c.Suite.Redactor, files...)
	c.Checked(written...)
	if err == nil {
		err = c.Suite.Ledger.Record(written...)
	}
	if err != nil {
		if why, full := c.Suite.noSpace(err, filepath.Join(c.Suite.Settings.Out, evidence.CopiesDir, rel)); full {
			c.Fatalf("%s: %s", c.Step.ID(), why)
		}
		c.Fatalf("%s: keep evidence: %v", c.Step.ID(), err)
	}
	c.notePartialRefs(written)
	var leaks []string
	for _, f := range found {
		leak := fmt.Sprintf("%s holds %s: referenced by its sha256 in %s, not copied", f.Path, redact.Describe(f.Names), f.Ref)
		c.Notef("%s", leak)
		leaks = append(leaks, leak)
	}
	// On a GPU instance a secret saved into a training output leaves with every copy of it.
	if len(leaks) > 0 && c.Suite.Settings.GPU {
		c.Fatalf("%s: %s", c.Step.ID(), strings.Join(leaks, "; "))
	}
}

// notePartialRefs says, in the section's notes, which of the references among the evidence
// files written stand for a file whose sha256 does not cover all of it (a sparse file).
func (c *Section) notePartialRefs(written []string) {
	for _, rel := range written {
		if !strings.HasSuffix(rel, evidence.RefSuffix) {
			continue
		}
		ref, err := evidence.ReadRef(c.Out(rel))
		if err != nil {
			c.Fatalf("%s: %v", c.Step.ID(), err)
		}
		if !ref.Whole() {
			c.Notef("%s: %d bytes, sparse (%d allocated): referenced by the sha256 of its first %d bytes, not hashed whole (%s)",
				filepath.Base(ref.Path), ref.Size, ref.Allocated, ref.Hashed, rel)
		}
	}
}

func joinAll(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}
