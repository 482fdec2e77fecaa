package smoke

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/gpuenv"
)

// The checklist's sections, in the runbook's order. Each calls Fatalf to halt the run; every
// later section then skips with "blocked by <section>".

func Test00Preflight(t *testing.T) {
	suite.Section(t, "preflight", func(c *Section) {
		c.Checked(gpuenv.FileName, artifacts.NvidiaSMIFile)
		f := c.Suite.Facts
		if c.Suite.FactsErr != nil {
			c.Fatalf("preflight: %v", c.Suite.FactsErr)
		}
		for _, g := range f.NVML.GPUs {
			c.Notef("GPU %d: %s, %d MiB, driver %s, CUDA %s", g.Index, g.Name, g.MemoryTotalBytes>>20, f.NVML.DriverVersion, f.NVML.CUDADriverVersion)
		}
		c.Notef("python %s, torch %s (CUDA build %s, cuda available %t)", f.Python.Version, f.Python.Torch.Version, orNone(f.Python.Torch.CUDA), f.Python.Torch.CUDAAvailable)
		for _, n := range f.Notes {
			c.Notef("%s", n)
		}
		for _, h := range f.Health {
			if h.Severity == gpuenv.Note {
				c.Notef("health: %s", h.Message)
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
		c.Notef("%d PNGs of %dx%d and metadata.jsonl at %s (= data.data_root)", n, size, size, root)
	})
}

func Test03Validate(t *testing.T) {
	suite.Section(t, "validate", func(c *Section) {
		c.Run()
		c.keep(c.flagPath("--output-dir"), reproFiles...)
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
		train, err := c.Suite.Settings.Plan.Step("train")
		if err != nil {
			c.Fatalf("%v", err)
		}
		out := c.Path(train.Flag("--output-dir"))
		cfg := c.Path(train.Flag("--config"))
		want := c.expect(cfg)
		files := append(append([]string{}, reproFiles...), c.checkpoints()...)
		for _, f := range files {
			st, err := os.Stat(filepath.Join(out, f))
			switch {
			case err != nil:
				c.Fatalf("artifacts: %s is missing", filepath.Join(out, f))
			case st.Size() == 0:
				c.Fatalf("artifacts: %s is empty", filepath.Join(out, f))
			}
		}
		c.checkCheckpoints(out, want, c.checkRepro(out, cfg, want))
		c.Notef("%s verified in %s", strings.Join(files, ", "), train.Flag("--output-dir"))
	})
}

func Test06Resume(t *testing.T) {
	suite.Section(t, "resume", func(c *Section) {
		out := c.flagPath("--output-dir")
		from := c.flagPath("--resume-from")
		// The resume rewrites the repro artifacts in place: keep section 04's first.
		c.keepAs("before", out, reproFiles...)
		ckpts := c.checkpoints()
		before, err := artifacts.HashFiles(joinAll(out, ckpts)...)
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
		after, err := artifacts.HashFiles(joinAll(out, ckpts)...)
		if err != nil {
			c.Fatalf("resume: %v", err)
		}
		if diff := artifacts.DiffHashes(before, after); len(diff) > 0 {
			c.Fatalf("resume: the resume touched the checkpoints: %s", strings.Join(diff, ", "))
		}
		c.keepAs("after", out, reproFiles...)
		c.Notef("resumed from %s at global_step=%d; %s unchanged", filepath.Base(from), steps, strings.Join(ckpts, ", "))
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
	runDir, err := c.Suite.Settings.Plan.Step("train")
	if err != nil {
		c.Fatalf("%v", err)
	}
	if cuda, torch := c.torchCUDA(c.Path(runDir.Flag("--output-dir"))); !cuda {
		c.Skipf("torch sees no CUDA (%s): AMP %s needs a GPU", torch, p)
	}
	tmp := c.flagPath("--config")
	allowed := c.Path(runDir.Flag("--output-dir"))
	inside := filepath.Dir(tmp) == filepath.Clean(allowed)
	c.Suite.guard("temporary configs only under "+runDir.Flag("--output-dir")+"/", inside, tmp)
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
	if line, ok, err := artifacts.Fallback(c.Out(c.LogRel())); err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	} else if ok {
		c.Fatalf("%s: the GPU did not run %s: difftrain fell back to fp32: %s", c.Step.ID(), p, line)
	}
	out := c.flagPath("--output-dir")
	want := c.expect(tmp)
	c.checkCheckpoints(out, want, c.checkRepro(out, tmp, want))
	c.keep(out, append(reproFiles, c.checkpoints()...)...)
}

// torchCUDA says whether torch sees CUDA. Preflight probes torch before the install step; if it
// was not installed then, the training run's env.json (written by the torch the install
// brought) answers instead.
func (c *Section) torchCUDA(trainOut string) (bool, string) {
	t := c.Suite.Facts.Python.Torch
	if t.Version != gpuenv.NotInstalled && t.Version != "" {
		return t.CUDAAvailable, "torch " + t.Version
	}
	env, err := artifacts.ReadEnvJSON(filepath.Join(trainOut, "env.json"))
	if err != nil {
		return false, "torch not installed at preflight, and no env.json from the training run"
	}
	return env.CUDAAvailable, "torch " + env.TorchVersion + ", as the training run's env.json records"
}

// trainConfig is the config the training step uses.
func (c *Section) trainConfig() string {
	train, err := c.Suite.Settings.Plan.Step("train")
	if err != nil {
		c.Fatalf("%v", err)
	}
	return c.Path(train.Flag("--config"))
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

// expect is what the run's outputs must show, read from the config it used.
func (c *Section) expect(cfg string) artifacts.Expect {
	p, err := artifacts.ConfigString(cfg, "train.precision")
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	root, err := artifacts.ConfigString(cfg, "data.data_root")
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	return artifacts.Expect{Precision: p, Seed: c.configInt(cfg, "train.seed"),
		MaxSteps: c.configInt(cfg, "train.max_steps"), DataRoot: root}
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

// checkRepro proves env.json, config.resolved.yaml and run_manifest.json right, and returns the
// resolved config.
func (c *Section) checkRepro(out, cfg string, want artifacts.Expect) map[string]any {
	env, err := artifacts.ReadEnvJSON(filepath.Join(out, "env.json"))
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	if c.Suite.Settings.GPU {
		var want artifacts.GPU
		if g := c.Suite.Facts.NVML.GPUs; len(g) > 0 {
			want = artifacts.GPU{Name: g[0].Name, MemoryBytes: g[0].MemoryTotalBytes}
		}
		if err := env.CheckGPU(want); err != nil {
			c.Fatalf("%s: %v", c.Step.ID(), err)
		}
	}
	resolved, err := artifacts.CheckResolvedConfig(filepath.Join(out, "config.resolved.yaml"), cfg, want)
	if err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	if err := artifacts.CheckManifest(filepath.Join(out, "run_manifest.json"), out); err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	return resolved
}

// checkCheckpoints reads each checkpoint's payload and checks step, precision, scaler and config.
func (c *Section) checkCheckpoints(out string, want artifacts.Expect, resolved map[string]any) {
	for _, name := range c.checkpoints() {
		var step int
		fmt.Sscanf(name, "checkpoint-%d.pt", &step)
		ck, err := artifacts.CheckCheckpoint(filepath.Join(out, name), step, want.Precision, resolved)
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
	written, err := artifacts.Copy(c.Suite.Settings.Out, rel, c.Suite.Settings.CopyCap, files...)
	c.Checked(written...)
	if err != nil {
		c.Fatalf("%s: keep evidence: %v", c.Step.ID(), err)
	}
	for _, w := range written {
		if ext := filepath.Ext(w); ext == ".json" || ext == ".yaml" { // text; checkpoints stay byte-exact
			if err := c.Suite.Redactor.RedactFile(c.Out(w)); err != nil {
				c.Fatalf("%s: keep evidence: %v", c.Step.ID(), err)
			}
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
