package evidence

import (
	"fmt"
	"slices"
	"strings"
)

// Var is one of the harness's own environment variables: its name, and who reads it.
type Var struct{ Name, ReadBy string }

// Vars are every SMOKE_* and GPUSMOKE_* variable the harness knows: the operator's settings (the
// docs/settings.md), the variables make, run-smoke and the sbatch script pass on to
// the suite, and those the project's own tests read, which CI sets. The suite refuses any other
// variable with those prefixes as a misspelt setting (CheckVars), and a test requires every such
// name the project's code, scripts and documents use to be here.
var Vars = []Var{
	{"SMOKE_PYTHON", "the suite: the interpreter the plan's python stands for"},
	{"SMOKE_OUT", "the suite and run-smoke: the evidence directory"},
	{"SMOKE_PLAN", "the suite and run-smoke: the plan, by name or file"},
	{"SMOKE_SAMPLE_INTERVAL", "the suite: the GPU sampler's period"},
	{"SMOKE_COPY_CAP_MB", "the suite: artifacts above it are referenced, not copied"},
	{"SMOKE_MIN_FREE_MB", "the suite: the free space SMOKE_OUT needs at the start"},
	{"SMOKE_LEFTOVERS", "the suite: stop or move an earlier run's files"},
	{"SMOKE_GPUS", "the suite: a node run, the plan once per GPU (all, or NVML indexes such as 0,3,5)"},
	{"SMOKE_SLOW_FACTOR", "the suite: a node's GPU whose training takes this many times the median is slow"},
	{"SMOKE_SLOW", "the suite: whether a node's slow GPU fails the node (fail) or is named (warn)"},
	{NodeVar, "the node's suite, to each GPU's run: the node's evidence directory"},
	{NodeGPUVar, "the node's suite, to each GPU's run: which GPU of node.json it runs on"},
	{"SMOKE_OPERATOR", "the renderer: the template's Operator row"},
	{"SMOKE_LOCATION", "the renderer: the template's Location row"},
	{"SMOKE_FAKE_GPU", "the suite built with -tags fakegpu (the project's tests): which mock GPU"},
	{"SMOKE_CHECK_SETTINGS", "run-smoke, to the suite: check the settings only, print SMOKE_OUT"},
	{"SMOKE_SDC", "the node and fleet reports (sdc.Decide): fail, warn or off for results that differ between GPUs or nodes"},
	{"SMOKE_STEP_ID", "the suite, to each step's processes: the marker that finds them (runner.MarkerVar)"},
	{"GPUSMOKE_BIN", "make smoke, to run-smoke: where the binaries are"},
	{"GPUSMOKE_CWD", "make smoke, to run-smoke: where the command was typed"},
	{"GPUSMOKE_WRAPPED", "run-smoke, to the suite: gotestsum wraps it, and run-smoke renders the documents from junit.xml"},
	{"GPUSMOKE_DIR", "the sbatch script and scripts/device-check: the unpacked bundle"},
	{"GPUSMOKE_SHARED", "the sbatch script: the shared directory of the jobs' evidence"},
	{"GPUSMOKE_JOBDIR", "the sbatch script, to its tasks: the job's evidence directory"},
	{"SMOKE_REQUIRE_TORCH", "the project's tests (CI sets it): the torch and pytest lanes may not skip"},
	{"GPUSMOKE_REQUIRE_SLURM", "the project's tests (make slurm-test sets it): the Slurm test may not skip"},
	{"GPUSMOKE_REQUIRE_CGROUP", "the project's tests (CI sets it): the tests of per-step cgroups may not skip"},
	{"GPUSMOKE_TEST_FAIL", "the project's Slurm test, to its wrapped run-smoke: the node whose training fails"},
	{"GPUSMOKE_TEST_VANISH", "the project's Slurm test, to its wrapped run-smoke: the node that leaves nothing"},
}

// HarnessVar says whether name is one of the harness's own variables by its form: SMOKE_*,
// GPUSMOKE_* or DIFFTRAIN_DIR. No step sees them.
func HarnessVar(name string) bool {
	return strings.HasPrefix(name, "SMOKE_") || strings.HasPrefix(name, "GPUSMOKE_") || name == "DIFFTRAIN_DIR"
}

// KnownVar says whether name is one of Vars.
func KnownVar(name string) bool {
	return slices.ContainsFunc(Vars, func(v Var) bool { return v.Name == name })
}

// CheckVars refuses an environment that holds a SMOKE_* or GPUSMOKE_* variable not in Vars: a
// misspelt setting would otherwise be ignored. The error is one line that names each such
// variable (never its value, which may be a secret) and the known name closest to it.
func CheckVars(environ []string) error {
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if HarnessVar(name) && name != "DIFFTRAIN_DIR" && !KnownVar(name) && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	parts := make([]string, len(unknown))
	for i, name := range unknown {
		parts[i] = fmt.Sprintf("%s is not a setting of the harness (did you mean %s?)", name, closestVar(name))
	}
	return fmt.Errorf("%s: every SMOKE_* and GPUSMOKE_* variable must be one it knows (README, \"Operator settings\")", strings.Join(parts, "; "))
}

// closestVar is the known name at the least edit distance from name (the first of Vars on a tie).
func closestVar(name string) string {
	best, bestD := "", -1
	for _, v := range Vars {
		if d := editDistance(name, v.Name); bestD < 0 || d < bestD {
			best, bestD = v.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, byte by byte.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
