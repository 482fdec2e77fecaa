package smoke

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/sdc"
)

// The checks the sections' tests (sections_test.go) share: the files a step must leave, the
// repro artifacts and checkpoints proved right, the evidence kept.

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
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
		if why, full := c.Suite.noSpace(err, filepath.Join(c.Suite.Settings.Out, evidence.CopyRel(rel))); full {
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

// recordComputed records what the training computed, for comparing it with other runs of the
// same deterministic training (sdc: a node's GPUs, a fleet's nodes): the loss logged at each
// step, the digest of every tensor of its checkpoints in out, and its step rate. A run that did
// not train deterministically, or whose outputs cannot be read, is recorded as not comparable,
// with the reason, never as agreeing.
func (c *Section) recordComputed(out string, ckpts []string) {
	r := &evidence.Computed{Comparable: true, Losses: []string{}, Tensors: []sdc.Digest{}}
	notComparable := func(why string) {
		if r.Comparable {
			r.Comparable, r.Why = false, why
		}
	}
	losses, err := artifacts.StepLosses(c.Out(c.LogRel()))
	if err != nil {
		notComparable(err.Error())
	}
	for _, l := range losses {
		r.Losses = append(r.Losses, l.Loss)
	}
	if rate, ok := artifacts.StepRate(losses); ok {
		r.StepsPerSecond = rate
	}
	p := filepath.Join(out, artifacts.ManifestFile)
	b, err := evidence.ReadFileLimit(p, artifacts.MaxManifestBytes)
	var m *artifacts.Manifest
	if err == nil {
		m, err = artifacts.ParseManifest(p, b)
	}
	switch {
	case err != nil:
		notComparable(err.Error())
	case !m.Deterministic:
		notComparable(p + ": repro.deterministic is false: a run that is not deterministic cannot be compared")
	}
	for _, name := range ckpts {
		ds, err := artifacts.TensorDigests(filepath.Join(out, name))
		if err != nil {
			notComparable(err.Error())
		}
		for _, d := range ds {
			r.Tensors = append(r.Tensors, sdc.Digest{Checkpoint: name, Tensor: d.Name, SHA256: d.SHA256})
		}
	}
	r.Why = c.Suite.shown(r.Why)
	c.Suite.mu.Lock()
	c.Suite.Info.Computed = r
	c.Suite.mu.Unlock()
}
