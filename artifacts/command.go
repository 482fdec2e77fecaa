package artifacts

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// The difftrain scripts whose outputs the harness checks.
const (
	TrainScript    = "train_text_to_image.py"
	ValidateScript = "validate_config.py"
	DatasetScript  = "make_dummy_imagefolder.py"
)

// Command is one call of a difftrain script, from its argv with or without the interpreter:
// what the checks of its outputs must expect follows from it (the contract's "Facts checked
// against the real repository").
type Command struct {
	Script string   // the script's base name, e.g. train_text_to_image.py; "" when argv runs no .py
	Argv   []string // from the script's path on: what Python puts in sys.argv and env.json's argv
}

// ParseCommand finds the script in argv: the first argument ending in .py.
func ParseCommand(argv []string) Command {
	for i, a := range argv {
		if strings.HasSuffix(a, ".py") {
			return Command{Script: filepath.Base(a), Argv: slices.Clone(argv[i:])}
		}
	}
	return Command{}
}

// Flag returns the value of an argparse option given as "--name value" or "--name=value".
func (c Command) Flag(name string) (string, bool) {
	for i := 1; i < len(c.Argv); i++ {
		a := c.Argv[i]
		if a == name && i+1 < len(c.Argv) {
			return c.Argv[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Overrides are the resolved-config keys the command writes from its flags instead of the
// source config: train_text_to_image.py sets train.output_dir from --output-dir and
// train.resume_from from --resume-from before it writes config.resolved.yaml, the manifest and
// every checkpoint; validate_config.py writes the source's values whatever its flags.
func (c Command) Overrides() map[string]string {
	out := map[string]string{}
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
// always records true, validate_config.py records whether --deterministic was given.
func (c Command) Deterministic() bool {
	if c.Script == TrainScript {
		return true
	}
	return slices.Contains(c.Argv[min(1, len(c.Argv)):], "--deterministic")
}

// String is the command as a shell would take it.
func (c Command) String() string { return evidence.Quote(c.Argv) }

// WrittenBy says whether env.json was written by this command: its argv is the command's.
func (e *EnvJSON) WrittenBy(c Command) error {
	if !slices.Equal(e.Argv, c.Argv) {
		return fmt.Errorf("%s: argv: %s, but the step ran %s", e.Path, evidence.Quote(e.Argv), c)
	}
	return nil
}
