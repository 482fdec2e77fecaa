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
	"github.com/difftrain/gpusmoke/junit"
	"github.com/difftrain/gpusmoke/runbook"
)

// LaneTempRoot is where the pytest lanes' temporary directories go (pytest's --basetemp, one per
// lane): in the workspace, beside the checkout and never in it, under a name that says whose
// they are; a fixed place, so that section 04 run alone finds an earlier run's GPU lane.
const LaneTempRoot = "./gpusmoke-pytest"

// laneNoCache are the options that keep pytest from writing its cache (.pytest_cache/) into the
// checkout, its rootdir: nothing of the harness's lands in the checkout.
var laneNoCache = []string{"-p", "no:cacheprovider"}

// pytestJudged are the exit codes of pytest that the lane judges from its JUnit: 1, tests
// failed, and 5, no tests collected. Any other code that is not 0 (2 interrupted or a
// collection error, 3 internal error, 4 usage error) fails the step as any command does.
var pytestJudged = []int{1, 5}

// isLane says whether a step runs a pytest lane.
func isLane(st runbook.Step) bool {
	return artifacts.ParseCommand(st.Command).Module == "pytest"
}

// laneTemp is the lane's --basetemp.
func (c *Section) laneTemp(st runbook.Step) string { return c.Suite.Settings.laneTemp(st) }

func (s *Settings) laneTemp(st runbook.Step) string {
	return s.path(filepath.Join(LaneTempRoot, st.ID()))
}

// laneArgv is the lane's command as it runs: the plan's, with pytest writing its temporary
// directories under LaneTempRoot and its JUnit beside them (laneJUnit).
func (c *Section) laneArgv(st runbook.Step) []string {
	return c.laneArgvTo(st, c.laneJUnit(st))
}

// laneJUnit is where pytest writes its JUnit: outside the evidence, since pytest's own report
// may quote a secret (a failed assertion's values, captured output); the lane copies it into
// SMOKE_OUT through the redactor.
func (c *Section) laneJUnit(st runbook.Step) string { return c.laneTemp(st) + ".xml" }

// laneArgvTo is the lane's command with its JUnit written to junit.
func (c *Section) laneArgvTo(st runbook.Step, junit string) []string {
	argv := append(st.Argv(c.Suite.Settings.Python), evidence.LaneFlags[0], junit, evidence.LaneFlags[1], c.laneTemp(st))
	return append(argv, laneNoCache...)
}

// lane runs one of difftrain's pytest lanes as the section, replays pytest's testcases as
// subtests, and judges the lane from them. pytest's own success is never enough: a lane that
// collected nothing fails, and one whose every test was skipped never passes. It fails under
// -tags gpu, or when torch sees CUDA; otherwise a GPU lane is SKIPPED with pytest's reason, as
// the AMP sections are on a CPU.
func (c *Section) lane(gpuLane bool) {
	c.T.Helper()
	st := c.Step
	junitRel := evidence.PytestRel(st.ID())
	for _, dir := range []string{filepath.Dir(c.Out(junitRel)), filepath.Dir(c.laneTemp(st))} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.Fatalf("%s: %v", st.ID(), err)
		}
	}
	argv := c.laneArgv(st)
	_ = os.Remove(c.laneJUnit(st)) // an earlier run's is not this run's
	res := c.runArgv(argv, pytestJudged)
	var cases []artifacts.PytestCase
	err := evidence.RedactFile(c.laneJUnit(st), c.Out(junitRel), c.Suite.Redactor)
	if err == nil {
		err = c.Suite.Ledger.Record(junitRel)
	}
	if err == nil {
		cases, err = artifacts.ReadPytestJUnit(c.Out(junitRel))
	}
	if err != nil {
		c.Fatalf("%s: pytest exited %d and left no readable JUnit: %v; log: %s", st.ID(), res.ExitCode, err, c.Out(c.LogRel()))
	}
	c.Checked(junitRel)
	c.replay(cases)
	var failed, skipped []artifacts.PytestCase
	for _, pc := range cases {
		switch pc.Outcome {
		case junit.Failed:
			failed = append(failed, pc)
		case junit.Skipped:
			skipped = append(skipped, pc)
		}
	}
	c.Notef("pytest: %s", evidence.Counts(c.rec.Cases))
	switch {
	case res.ExitCode == 5 || len(cases) == 0:
		c.Fatalf("%s: pytest collected no tests (exit code %d): %s", st.ID(), res.ExitCode, collects(st))
	case len(failed) > 0:
		c.Fatalf("%s: %d of %d pytest tests failed, first %s: %s", st.ID(), len(failed), len(cases), failed[0].ID, failed[0].Message)
	case res.ExitCode != 0:
		c.Fatalf("%s: pytest exited %d, but its JUnit records no failed test; log: %s", st.ID(), res.ExitCode, c.Out(c.LogRel()))
	case len(skipped) == len(cases):
		why := fmt.Sprintf("pytest skipped its only test, %s: %s", skipped[0].ID, skipped[0].Message)
		if len(cases) > 1 {
			why = fmt.Sprintf("pytest skipped all %d tests, first %s: %s", len(cases), skipped[0].ID, skipped[0].Message)
		}
		if cuda, torch := c.torchCUDA(""); gpuLane && !c.Suite.Settings.GPU && !cuda {
			c.NotApplicable("%s: %s (%s sees no CUDA)", st.ID(), why, torch)
		}
		c.Fatalf("%s: %s; a lane with no test run is not a pass", st.ID(), why)
	}
}

// collects says what the lane asks pytest to collect: its paths and its -m expression.
func collects(st runbook.Step) string {
	cmd := artifacts.ParseCommand(st.Command)
	var paths []string
	for i := 1; i < len(cmd.Argv); i++ {
		a := cmd.Argv[i]
		if strings.HasPrefix(a, "-") {
			if a == "-m" || a == "-k" {
				i++
			}
			continue
		}
		paths = append(paths, a)
	}
	what := strings.Join(paths, " ")
	if m, ok := cmd.Flag("-m"); ok {
		what += fmt.Sprintf(" with -m %q", m)
	}
	return what + " selects none"
}

// replay records pytest's cases in the section and runs each as a subtest of the section's test,
// passed, failed with the first line of its failure, or skipped with pytest's reason, so that
// CI's JUnit carries them under the section.
func (c *Section) replay(cases []artifacts.PytestCase) {
	for i, pc := range cases {
		// As the subtest's properties carry them, so that run.json and junit.xml agree.
		cs := evidence.Case{ID: c.Suite.propValue(pc.ID), Result: evidence.Pass, Reason: c.Suite.propValue(pc.Message)}
		switch pc.Outcome {
		case junit.Failed:
			cs.Result = evidence.Fail
		case junit.Skipped:
			cs.Result = evidence.Skipped
		}
		c.rec.Cases = append(c.rec.Cases, cs)
		c.T.Run(cs.ID, func(t *testing.T) {
			for _, p := range cs.Properties(i + 1) {
				t.Attr(p[0], p[1])
			}
			switch cs.Result {
			case evidence.Fail:
				t.Errorf("pytest: FAILED %s: %s", cs.ID, cs.Reason)
			case evidence.Skipped:
				t.Skipf("pytest: SKIPPED %s: %s", cs.ID, cs.Reason)
			}
		})
	}
}

// torchCUDA says whether torch sees CUDA. Preflight probes torch before the install step; if it
// was not installed then, the training run's env.json (written by the torch the install
// brought) answers instead.
func (c *Section) torchCUDA(trainOut string) (bool, string) {
	t := c.Suite.Facts.Python.Torch
	if t.Version != gpuenv.NotInstalled && t.Version != "" {
		return t.CUDAAvailable, "torch " + t.Version
	}
	if trainOut == "" {
		return false, "torch not installed at preflight"
	}
	env, err := artifacts.ReadEnvJSON(filepath.Join(trainOut, "env.json"))
	if err != nil {
		return false, "torch not installed at preflight, and no env.json from the training run"
	}
	return env.CUDAAvailable, "torch " + env.TorchVersion + ", as the training run's env.json records"
}
