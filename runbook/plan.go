// Package runbook holds the smoke plan: the runbook's commands, timeouts and optional sections, and the deviations a plan makes from it.
package runbook

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/printable"
	"go.yaml.in/yaml/v3"
)

//go:embed runbook.yaml
var runbookYAML []byte

//go:embed pytest-lanes.yaml
var pytestLanesYAML []byte

// EmbeddedPath is the Path of the default plan, which is compiled into the binary.
const EmbeddedPath = "(embedded runbook)"

// Builtin is a plan compiled into the binary: a runbook a plan file may follow (its base).
type Builtin struct {
	Name    string // what SMOKE_PLAN and a plan's base: name it
	Follows string // the runbook it automates (docs/runbook.md), for `make plans` and `go test ./smoke -list .`
	yaml    []byte
}

// The built-in plans' names.
const (
	RunbookPlan     = "runbook"
	PytestLanesPlan = "pytest-lanes"
)

// Builtins are the built-in plans; the first is the default.
var Builtins = []Builtin{
	{RunbookPlan, "the cloud test engineer's runbook (docs/runbook.md): install, dummy dataset, config validation, 2-step training, artifacts, resume, fp16 and bf16", runbookYAML},
	{PytestLanesPlan, "difftrain's newer runbook (docs/runbook.md): its own pytest lanes (unit tests on CPU, the GPU smoke test), then the GPU lane's artifacts", pytestLanesYAML},
}

// BuiltinPath is the Path of a built-in plan.
func BuiltinPath(name string) string {
	if name == Builtins[0].Name {
		return EmbeddedPath
	}
	return "(embedded " + name + ")"
}

// Named is the built-in plan of that name.
func Named(name string) (*Plan, error) {
	for _, b := range Builtins {
		if b.Name == name {
			p, err := parse(b.yaml, BuiltinPath(name))
			if err != nil {
				return nil, err
			}
			p.Base = name // a built-in plan follows itself
			return p, nil
		}
	}
	names := make([]string, len(Builtins))
	for i, b := range Builtins {
		names[i] = b.Name
	}
	return nil, fmt.Errorf("no built-in plan named %q (%s)", name, strings.Join(names, ", "))
}

// Plan is an approved list of steps, one per checklist section, in runbook order.
type Plan struct {
	Name string `yaml:"name"`
	// Base is the built-in plan this one follows and is checked against ("runbook" when empty).
	Base  string `yaml:"base"`
	Steps []Step `yaml:"steps"`
	// Path is where the plan was read from; SHA256 is the hash of its bytes.
	Path   string `yaml:"-"`
	SHA256 string `yaml:"-"`
}

// Step is one checklist section. Sections 00 (preflight) and 05 (artifacts) run no command.
type Step struct {
	Section  string   `yaml:"section"`
	Name     string   `yaml:"name"`
	Title    string   `yaml:"title"`
	Expected string   `yaml:"expected"`
	Command  []string `yaml:"command"`
	Timeout  Duration `yaml:"timeout"`
	// Optional marks the runbook's optional sections; only those may be skipped.
	Optional bool `yaml:"optional"`
	// Skip leaves an optional section out of this run; Reason says why.
	Skip bool `yaml:"skip"`
	// Reason justifies a command that differs from the runbook, or a skipped section.
	Reason string `yaml:"reason"`
}

// ID is the section's label in logs and reports, e.g. "04-train".
func (s Step) ID() string { return s.Section + "-" + s.Name }

// Test is the name of the Go test that runs the step (the smoke package's TestNN): "Test", the
// section's number, and the step's name in CamelCase with GPU, AMP, FP16 and BF16 in capitals;
// 04-train is Test04Train, 07-amp-fp16 Test07AMPFP16. Each plan numbers its own sections, so two
// plans' tests may share a number (the runbook's Test02Dataset, the pytest lanes'
// Test02UnitLane): the step's name tells them apart, and it means one section in every plan.
func (s Step) Test() string {
	var b strings.Builder
	b.WriteString("Test" + s.Section)
	for _, w := range strings.Split(s.Name, "-") {
		switch w {
		case "gpu", "amp", "fp16", "bf16":
			b.WriteString(strings.ToUpper(w))
		default:
			if w != "" {
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			}
		}
	}
	return b.String()
}

// Flag returns the value of the command's option flag ("--flag value" or "--flag=value"), or "".
func (s Step) Flag(flag string) string {
	v, _ := evidence.Flag(s.Command, flag)
	return v
}

// Argv is the command with the word "python" replaced by the interpreter.
func (s Step) Argv(python string) []string {
	argv := slices.Clone(s.Command)
	if len(argv) > 0 && argv[0] == "python" {
		argv[0] = python
	}
	return argv
}

// Duration is a time.Duration written as "30m" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: timeout %q is not a positive duration such as 30m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Default is the runbook's own plan, the first of the built-in plans.
func Default() *Plan {
	p, err := Named(Builtins[0].Name)
	if err != nil {
		panic("embedded runbook.yaml: " + err.Error()) // a build defect, caught by the package tests
	}
	return p
}

// Load reads a plan file and checks it against the runbook. A plan that changes a command
// without a reason, or that does not list the runbook's sections in order, is refused.
func Load(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return Parse(b, path)
}

// Parse reads a plan from b, which came from path, and checks it against the built-in plan it
// follows (its base: the runbook's by default).
func Parse(b []byte, path string) (*Plan, error) {
	p, err := parse(b, path)
	if err != nil {
		return nil, err
	}
	base, err := p.BasePlan()
	if err != nil {
		return nil, fmt.Errorf("plan %s: base: %v", path, err)
	}
	if err := p.check(base); err != nil {
		hint := ""
		for _, b := range Builtins {
			if other, err := Named(b.Name); err == nil && b.Name != base.Base && other.ids() == p.ids() {
				hint = fmt.Sprintf(" (its sections are those of the built-in plan %s: say base: %s)", b.Name, b.Name)
			}
		}
		return nil, fmt.Errorf("plan %s: %s%s", path, yamlError(err), hint)
	}
	return p, nil
}

// BasePlan is the built-in plan p follows.
func (p *Plan) BasePlan() (*Plan, error) {
	if p.Base == "" || p.Base == Builtins[0].Name {
		return Default(), nil
	}
	return Named(p.Base)
}

func parse(b []byte, path string) (*Plan, error) {
	var p Plan
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("plan %s: empty file", path)
	} else if err != nil {
		return nil, fmt.Errorf("plan %s: %s", path, yamlError(err))
	}
	sum := sha256.Sum256(b)
	p.Path, p.SHA256 = path, hex.EncodeToString(sum[:])
	var total time.Duration
	for i, s := range p.Steps {
		if s.Section == "" || s.Name == "" {
			return nil, fmt.Errorf("plan %s: steps[%d]: section and name are required", path, i)
		}
		if s.Timeout <= 0 {
			return nil, fmt.Errorf("plan %s: step %q: timeout is required", path, s.ID())
		}
		// Compared before adding, so that the sum never overflows.
		if t := time.Duration(s.Timeout); t > MaxTotalTimeout-total {
			return nil, fmt.Errorf("plan %s: step %s: timeout %s: the steps' timeouts add up to more than %s, the most a plan may take",
				path, s.ID(), t, MaxTotalTimeout)
		}
		total += time.Duration(s.Timeout)
	}
	return &p, nil
}

// MaxTotalTimeout is the most the steps' timeouts may add up to: about 11 years, far below
// where a time.Duration overflows, so that the suite can add its own margins to the sum.
const MaxTotalTimeout = 100000 * time.Hour

// TotalTimeout is the sum of the steps' timeouts, at most MaxTotalTimeout for a plan that parsed.
func (p *Plan) TotalTimeout() time.Duration {
	var total time.Duration
	for _, s := range p.Steps {
		total += time.Duration(s.Timeout)
	}
	return total
}

// check compares p with the plan it follows.
func (p *Plan) check(base *Plan) error {
	the := "the runbook"
	if base.Base != Builtins[0].Name {
		the = "the " + base.Base + " plan"
	}
	if len(p.Steps) != len(base.Steps) {
		return fmt.Errorf("steps: has %d steps, %s has %d (%s)", len(p.Steps), the, len(base.Steps), base.ids())
	}
	for i, s := range p.Steps {
		b := base.Steps[i]
		if s.Section != b.Section || s.Name != b.Name {
			return fmt.Errorf("steps[%d]: is %s, %s has %s here", i, s.ID(), the, b.ID())
		}
		switch {
		case len(b.Command) == 0 && len(s.Command) > 0:
			return fmt.Errorf("step %s: command: this section runs no command", s.ID())
		case s.Skip && !b.Optional:
			return fmt.Errorf("step %s: skip: %s does not make this section optional", s.ID(), the)
		case s.Skip && strings.TrimSpace(s.Reason) == "":
			return fmt.Errorf("step %s: skip: a skipped section needs a reason", s.ID())
		case !s.Skip && len(b.Command) > 0 && len(s.Command) == 0:
			return fmt.Errorf("step %s: command: missing (%s runs %s)", s.ID(), the, evidence.Quote(b.Command))
		case !s.Skip && !slices.Equal(s.Command, b.Command) && strings.TrimSpace(s.Reason) == "":
			return fmt.Errorf("step %s: command: differs from %s (%s) and has no reason", s.ID(), the, evidence.Quote(b.Command))
		}
		for _, flag := range []string{"--output-dir", "--config"} {
			if v := s.Flag(flag); v != "" && (flag == "--output-dir" || len(b.Command) > 0 && b.Flag(flag) != v) && escapes(v) {
				return fmt.Errorf("step %s: command: %s %s is outside the workspace: a plan writes only inside it", s.ID(), flag, v)
			}
		}
	}
	return nil
}

// escapes says whether a path from a plan's command leaves the workspace: an absolute path, or
// a relative one whose ".." climbs above it.
func escapes(p string) bool {
	if filepath.IsAbs(p) {
		return true
	}
	c := filepath.Clean(p)
	return c == ".." || strings.HasPrefix(c, ".."+string(filepath.Separator))
}

func (p *Plan) ids() string {
	ids := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		ids[i] = s.ID()
	}
	return strings.Join(ids, ", ")
}

// Step returns the step with the given name.
func (p *Plan) Step(name string) (Step, error) {
	for _, s := range p.Steps {
		if s.Name == name {
			return s, nil
		}
	}
	return Step{}, fmt.Errorf("plan %s: no step named %q", p.Path, name)
}

// Deviations lists the steps whose command differs from the runbook's, or that are skipped, with the plan's reasons.
func (p *Plan) Deviations() []evidence.Deviation {
	base, err := p.BasePlan()
	if err != nil { // Parse refused such a plan
		return nil
	}
	var out []evidence.Deviation
	for i, s := range p.Steps {
		b := base.Steps[i]
		if !s.Skip && slices.Equal(s.Command, b.Command) {
			continue
		}
		cmd := evidence.Quote(s.Command)
		if s.Skip {
			cmd = evidence.SkippedCommand
		}
		out = append(out, evidence.Deviation{Section: s.Section, Name: s.Name, Runbook: evidence.Quote(b.Command), Command: cmd, Reason: s.Reason})
	}
	return out
}

// yamlError is err on one line: yaml.v3's type errors list one problem per line.
func yamlError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return printable.OneLine("yaml: " + strings.Join(te.Errors, "; "))
	}
	return printable.OneLine(err.Error())
}
