package smoke

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	gpusmoke "github.com/difftrain/gpusmoke"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/runbook"
)

// Settings are the operator's choices, read from the environment. docs/settings.md documents each.
type Settings struct {
	GPU          bool   // built with -tags gpu
	DifftrainDir string // DIFFTRAIN_DIR: the checkout under test
	Workspace    string // its parent: every command runs here
	Fixture      bool   // DIFFTRAIN_DIR was unset: a fresh copy of the bundled stand-in
	Python       string // SMOKE_PYTHON
	Out          string // SMOKE_OUT, absolute
	Plan         *runbook.Plan
	// SampleEvery is SMOKE_SAMPLE_INTERVAL, the GPU sampler's period.
	SampleEvery time.Duration
	// CopyCap is SMOKE_COPY_CAP_MB: larger artifacts are hashed and referenced, not copied.
	CopyCap int64
	// MinFree is SMOKE_MIN_FREE_MB: the free space SMOKE_OUT needs at the start, so that a
	// run is not lost to a full disk.
	MinFree int64
	// Leftovers is SMOKE_LEFTOVERS: what to do with an earlier run's files in the output
	// directories (LeftoversStop or LeftoversMove).
	Leftovers string
	// PythonPath is the PYTHONPATH every step runs with, when the suite sets one: with the
	// fixture, the stand-in model packages and the fixture's src, ahead of the caller's.
	PythonPath string
	// GPUs is SMOKE_GPUS: "" for one run on the GPU torch picks; "all" or NVML indexes ("0,3,5")
	// for a node run, one run of the plan per GPU (node.go).
	GPUs string
	// CUDAVisible is CUDA_VISIBLE_DEVICES as the suite was started with it: what SMOKE_GPUS=all
	// takes where a scheduler gave this job fewer GPUs than NVML sees (gpuenv.Select).
	CUDAVisible string
	// SlowFactor (SMOKE_SLOW_FACTOR) and Slow (SMOKE_SLOW) judge a node run's slow GPU; SDC
	// (SMOKE_SDC) its GPU that computes differently (evidence.NodeRules).
	SlowFactor float64
	Slow, SDC  string
	// Member is set in the run of one GPU of a node run: the node's evidence directory and the
	// GPU's place in it (GPUSMOKE_NODE, GPUSMOKE_NODE_GPU).
	Member *evidence.Member
	// outName names SMOKE_OUT in errors; created is SMOKE_OUT when these settings made it.
	outName, created string
	unlock           func() // gives SMOKE_OUT's lock up (evidence.Lock)
}

// LoadSettings reads the settings. Each error is one line that names the setting.
func LoadSettings(getenv func(string) string, gpu bool) (*Settings, error) {
	s := &Settings{GPU: gpu, SampleEvery: time.Second, CopyCap: evidence.DefaultCopyCap, MinFree: 64 << 20}
	var err error
	if v := getenv("SMOKE_SAMPLE_INTERVAL"); v != "" {
		if s.SampleEvery, err = time.ParseDuration(v); err != nil || s.SampleEvery < 10*time.Millisecond {
			return nil, fmt.Errorf("SMOKE_SAMPLE_INTERVAL=%s: want a duration of at least 10ms, such as 1s or 100ms", v)
		}
	}
	for _, mib := range []struct {
		name string
		dst  *int64
	}{{"SMOKE_COPY_CAP_MB", &s.CopyCap}, {"SMOKE_MIN_FREE_MB", &s.MinFree}} {
		if v := getenv(mib.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<40 {
				return nil, fmt.Errorf("%s=%s: want a whole number of MiB", mib.name, v)
			}
			*mib.dst = n << 20
		}
	}
	switch s.Leftovers = getenv("SMOKE_LEFTOVERS"); s.Leftovers {
	case "":
		s.Leftovers = LeftoversStop
	case LeftoversStop, LeftoversMove:
	default:
		return nil, fmt.Errorf("SMOKE_LEFTOVERS=%s: want %s or %s", s.Leftovers, LeftoversStop, LeftoversMove)
	}
	if err := s.node(getenv); err != nil {
		return nil, err
	}
	if err := s.python(getenv("SMOKE_PYTHON")); err != nil {
		return nil, err
	}
	created, err := s.out(getenv("SMOKE_OUT"))
	if err != nil {
		return nil, err
	}
	// A run stopped by a bad setting leaves no evidence directory behind: it would pass for a run.
	cleanup := func(err error) (*Settings, error) {
		if created != "" {
			os.RemoveAll(created)
		}
		return nil, err
	}
	if err := s.checkout(getenv("DIFFTRAIN_DIR"), getenv("PYTHONPATH")); err != nil {
		return cleanup(err)
	}
	if s.Member != nil {
		// One GPU of a node run: the checkout is the GPU's copy, and what the node set up
		// (the fixture, its PYTHONPATH) holds for it too.
		s.Fixture, s.PythonPath = s.Member.Fixture, s.Member.PythonPath
	}
	if err := s.plan(getenv("SMOKE_PLAN")); err != nil {
		return cleanup(err)
	}
	if err := s.outsideCheckout(); err != nil {
		return cleanup(err)
	}
	s.created = created
	return s, nil
}

// node reads the settings of a node run: SMOKE_GPUS and how its GPUs are compared, and, in the
// run of one of its GPUs, where that GPU's place in the node is.
func (s *Settings) node(getenv func(string) string) error {
	rules, err := evidence.ParseNodeRules(getenv)
	if err != nil {
		return err
	}
	s.SlowFactor, s.Slow, s.SDC = rules.SlowFactor, rules.Slow, rules.SDC
	s.GPUs = strings.TrimSpace(getenv("SMOKE_GPUS"))
	s.CUDAVisible = strings.TrimSpace(getenv("CUDA_VISIBLE_DEVICES"))
	if dir := getenv(evidence.NodeVar); dir != "" {
		m, err := evidence.ReadMember(dir, getenv(evidence.NodeGPUVar))
		if err != nil {
			return err
		}
		s.Member, s.GPUs = m, ""
	}
	return nil
}

// Discard gives SMOKE_OUT's lock up and removes the evidence directory the settings made, for a
// run stopped before it started (leftovers found): only when the settings made it.
func (s *Settings) Discard() {
	s.Release()
	if s.created != "" {
		os.RemoveAll(s.created)
	}
}

// Release gives SMOKE_OUT's lock up, and removes the lock file: the run has sealed its evidence.
func (s *Settings) Release() {
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// Abs resolves a path setting: an absolute path as it is; a relative one against the directory
// the user typed the command in, which `make` and run-smoke pass on as an absolute path, and
// which under plain `go test` (run in smoke/) is the repository root, never smoke/.
func Abs(v string) string {
	if filepath.IsAbs(v) {
		return filepath.Clean(v)
	}
	return filepath.Join(moduleRoot(), v)
}

// outsideCheckout refuses an evidence directory inside the checkout, one of the output
// directories the plan's commands write, or a pytest lane's temporary directory (which pytest
// empties when the lane starts): the run would write its evidence over what it checks. Paths
// are compared resolved, so a symlink on either side changes nothing.
func (s *Settings) outsideCheckout() error {
	dirs := []string{s.DifftrainDir}
	for _, st := range s.Plan.Steps {
		if v := st.Flag("--output-dir"); v != "" {
			dirs = append(dirs, s.path(v))
		}
		if isLane(st) {
			dirs = append(dirs, s.laneTemp(st))
		}
	}
	for _, d := range dirs {
		if _, inside := evidence.Within(d, s.Out); inside {
			return fmt.Errorf("%s: inside %s, which the run checks or writes: choose a directory outside the checkout", s.outName, d)
		}
	}
	return nil
}

func (s *Settings) python(v string) error {
	if v == "" {
		v = "python"
		if _, err := exec.LookPath(v); err != nil {
			v = "python3"
		}
	}
	p, err := exec.LookPath(v)
	if err != nil {
		return fmt.Errorf("SMOKE_PYTHON=%s: interpreter not found (%v)", v, unwrapExec(err))
	}
	if strings.ContainsRune(v, filepath.Separator) {
		if p, err = filepath.Abs(p); err != nil {
			return fmt.Errorf("SMOKE_PYTHON=%s: %w", v, err)
		}
	}
	s.Python = p
	return nil
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// out makes SMOKE_OUT and proves it can hold a run; it returns SMOKE_OUT when it made it.
func (s *Settings) out(v string) (string, error) {
	name := "SMOKE_OUT=" + v
	abs := Abs(v)
	if v == "" {
		abs = evidence.NewOut(moduleRoot(), time.Now())
		name = "SMOKE_OUT (default " + abs + ")"
	}
	s.outName = name
	created := ""
	if _, err := os.Lstat(abs); os.IsNotExist(err) {
		created = abs
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("%s: not writable: %w", name, err)
	}
	fail := func(err error) (string, error) {
		if created != "" {
			os.RemoveAll(created)
		}
		return "", err
	}
	// One run writes a directory: a second one started on it stops here, before it writes.
	release, err := evidence.Lock(abs, 0, nil)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
	}
	s.unlock = release
	if _, err := os.Stat(filepath.Join(abs, evidence.RunFile)); err == nil {
		return fail(fmt.Errorf("%s: already holds a run (%s): give each run a new directory", name, evidence.RunFile))
	}
	probe := filepath.Join(abs, ".smoke-write-probe")
	if err := os.WriteFile(probe, make([]byte, 4096), 0o644); err != nil {
		return fail(fmt.Errorf("%s: not writable: %w", name, err))
	}
	os.Remove(probe)
	var st syscall.Statfs_t
	if err := syscall.Statfs(abs, &st); err == nil {
		if free := int64(st.Bavail) * int64(st.Bsize); free < s.MinFree {
			return fail(fmt.Errorf("%s: only %d MiB free, a run needs at least %d MiB (SMOKE_MIN_FREE_MB)", name, free>>20, s.MinFree>>20))
		}
	}
	s.Out = abs
	return created, nil
}

// moduleRoot is the nearest directory above the working directory that holds go.mod
// (go test runs in the package directory), else the working directory.
func moduleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}

// checkout finds the difftrain checkout, or lays out a fresh copy of the fixture as a git repo,
// with the stand-in model packages beside it: the fixture checks the text2image extras as the
// real training script does, and its steps run as if `pip install -e .[text2image]` had made
// them and the fixture's src importable.
func (s *Settings) checkout(v, pythonPath string) error {
	if v == "" {
		ws := filepath.Join(s.Out, evidence.WorkspaceDir)
		if err := os.Mkdir(ws, 0o755); err != nil {
			return fmt.Errorf("DIFFTRAIN_DIR (unset): make a workspace for the fixture: %w", err)
		}
		dir := filepath.Join(ws, "difftrain")
		if err := gpusmoke.WriteFixture(dir); err != nil {
			return fmt.Errorf("DIFFTRAIN_DIR (unset): %w", err)
		}
		if err := commitAll(dir); err != nil {
			return fmt.Errorf("DIFFTRAIN_DIR (unset): make the fixture a git repo: %w", err)
		}
		standins := filepath.Join(ws, "standins")
		if err := gpusmoke.WriteStandins(standins); err != nil {
			return fmt.Errorf("DIFFTRAIN_DIR (unset): %w", err)
		}
		s.PythonPath = standins + string(os.PathListSeparator) + filepath.Join(dir, "src")
		if pythonPath != "" {
			s.PythonPath += string(os.PathListSeparator) + pythonPath
		}
		s.DifftrainDir, s.Workspace, s.Fixture = dir, ws, true
		return nil
	}
	abs := Abs(v)
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("DIFFTRAIN_DIR=%s: %w", v, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("DIFFTRAIN_DIR=%s: not a directory", v)
	}
	for _, f := range []string{"scripts/train_text_to_image.py", "scripts/make_dummy_imagefolder.py", "configs/smoke_text2image.yaml"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			return fmt.Errorf("DIFFTRAIN_DIR=%s: not a difftrain checkout: no %s", v, f)
		}
	}
	if filepath.Base(abs) != "difftrain" {
		return fmt.Errorf("DIFFTRAIN_DIR=%s: the checkout must be named difftrain, as the runbook's ./difftrain/... paths assume", v)
	}
	s.DifftrainDir, s.Workspace = abs, filepath.Dir(abs)
	return nil
}

// commitAll makes dir a git repository with one commit of everything in it.
func commitAll(dir string) error {
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=smoke", "-c", "user.email=smoke@localhost", "commit", "-q", "-m", "bundled difftrain fixture"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s: %v: %s", args[0], dir, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// plan reads SMOKE_PLAN: the name of a built-in plan (runbook.Builtins; with the fixture, the
// fixture's variant of it), or a plan file. Unset, it is the runbook's plan.
func (s *Settings) plan(v string) error {
	name := v
	if name == "" {
		name = runbook.Builtins[0].Name
	}
	if !strings.ContainsRune(v, filepath.Separator) && !strings.HasSuffix(v, ".yaml") && !strings.HasSuffix(v, ".yml") {
		var err error
		if b, path, ok := gpusmoke.FixturePlan(name); ok && s.Fixture {
			s.Plan, err = runbook.Parse(b, path)
		} else {
			s.Plan, err = runbook.Named(name)
		}
		if err != nil {
			if v == "" {
				v = "(unset)"
			}
			return fmt.Errorf("SMOKE_PLAN=%s: %w; or give a plan file", v, err)
		}
		return nil
	}
	var err error
	if s.Plan, err = runbook.Load(Abs(v)); err != nil {
		return fmt.Errorf("SMOKE_PLAN=%s: %w", v, err)
	}
	return nil
}
