package artifacts

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// TrainScript is difftrain's training script, whose flags Command.Overrides reads.
const TrainScript = "train_text_to_image.py"

// Command is one call of a difftrain script, from its argv with or without the interpreter:
// what the checks of its outputs must expect follows from it (the contract's "Facts checked
// against the real repository").
type Command struct {
	Script string // the script's base name, e.g. train_text_to_image.py; "" when argv runs no .py
	// Module is the module of `python -m <module>` (pytest), when argv runs one instead of a script.
	Module string
	// Argv is what Python puts in sys.argv and env.json's argv: from the script's path on; for
	// a module, the module's name and then its arguments (sys.argv[0] is then the path of its
	// __main__.py, which only the interpreter knows).
	Argv []string
	// set are the resolved-config keys the command sets in its own code, and deterministic
	// what it records: for a command that is not a script's flags (GPUSmokeTest).
	set           map[string]any
	deterministic bool
}

// ParseCommand finds the script in argv: the first argument ending in .py, or the module after -m.
func ParseCommand(argv []string) Command {
	for i, a := range argv {
		if strings.HasSuffix(a, ".py") {
			return Command{Script: filepath.Base(a), Argv: slices.Clone(argv[i:])}
		}
		if a == "-m" && i+1 < len(argv) {
			return Command{Module: argv[i+1], Argv: slices.Clone(argv[i+1:])}
		}
	}
	return Command{}
}

// GPUSmokeTestFile is difftrain's GPU smoke test, which the GPU lane (pytest -m "slow and cuda
// and text2image") runs.
const GPUSmokeTestFile = "tests/test_text2image_train_gpu_smoke.py"

// GPUSmokeTest is the writer of the GPU lane's run: pytest (argv, the lane's command) running
// GPUSmokeTestFile, which loads configs/smoke_text2image.yaml, sets the keys below in its own
// code, writes env.json, config.resolved.yaml and run_manifest.json (deterministic) into
// <tmp>/run, and trains min(train.max_steps, 2) steps with a checkpoint at every step. tmp is
// the test's tmp_path; maxSteps the source config's train.max_steps.
func GPUSmokeTest(argv []string, tmp string, maxSteps int) Command {
	c := ParseCommand(argv)
	c.set = map[string]any{
		"train.output_dir": filepath.Join(tmp, "run"), "data.data_root": filepath.Join(tmp, "data"),
		"data.batch_size": 1, "data.num_workers": 0, "train.max_steps": min(maxSteps, 2),
		"train.checkpointing_steps": 1, "train.log_every": 1,
	}
	c.deterministic = true
	return c
}

// Flag returns the value of an argparse option given as "--name value" or "--name=value".
func (c Command) Flag(name string) (string, bool) { return evidence.Flag(c.Argv, name) }

// Overrides are the resolved-config keys the command writes from its flags (or, for
// GPUSmokeTest, its code) instead of the source config: train_text_to_image.py sets
// train.output_dir from --output-dir and train.resume_from from --resume-from before it writes
// config.resolved.yaml, the manifest and every checkpoint; validate_config.py writes the
// source's values whatever its flags.
func (c Command) Overrides() map[string]any {
	out := map[string]any{}
	if c.set != nil {
		for k, v := range c.set {
			out[k] = v
		}
		return out
	}
	if c.Script != TrainScript {
		return out
	}
	if v, ok := c.Flag("--output-dir"); ok {
		out["train.output_dir"] = v
	}
	if v, ok := c.Flag("--resume-from"); ok {
		out["train.resume_from"] = v
	}
	return out
}

// Defaults are difftrain's defaults for the keys a command's flags override, for a source config
// that does not set them (its dataclass TrainConfig); a key missing here is not compared.
var Defaults = map[string]any{"train.resume_from": ""}

// Deterministic is the manifest's repro.deterministic the command writes: the training script
// and the GPU smoke test always record true, validate_config.py records whether
// --deterministic was given.
func (c Command) Deterministic() bool {
	if c.Script == TrainScript || c.deterministic {
		return true
	}
	return slices.Contains(c.Argv[min(1, len(c.Argv)):], "--deterministic")
}

// String is the command as a shell would take it.
func (c Command) String() string {
	if c.Module != "" {
		return "-m " + evidence.Quote(c.Argv)
	}
	return evidence.Quote(c.Argv)
}

// WrittenBy says whether env.json was written by this command: its argv is the command's (for
// `python -m <module>`, argv[0] is the path of the module's __main__.py).
func (e *EnvJSON) WrittenBy(c Command) error {
	if c.Module != "" {
		main := "/" + strings.ReplaceAll(c.Module, ".", "/") + "/__main__.py"
		if len(e.Argv) == 0 || !strings.HasSuffix(e.Argv[0], main) || !slices.Equal(e.Argv[1:], c.Argv[1:]) {
			return fmt.Errorf("%s: argv: %s, but the step ran python %s", e.Path, evidence.Quote(e.Argv), c)
		}
		return nil
	}
	if !slices.Equal(e.Argv, c.Argv) {
		return fmt.Errorf("%s: argv: %s, but the step ran %s", e.Path, evidence.Quote(e.Argv), c)
	}
	return nil
}
