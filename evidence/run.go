package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/sdc"
)

// JUnit property names: each section hands its result to the renderer through t.Attr, and
// gotestsum writes them to <testcase><properties>. What the plan says of a section (title,
// expected, deviation) is in run.json only.
const (
	PropSection   = "section"   // "04"
	PropName      = "name"      // "train"
	PropCommand   = "command"   // argv, shell-quoted for reading
	PropExitCode  = "exit_code" // "0"
	PropDuration  = "duration"  // seconds, "%.1f"
	PropLog       = "log"       // path relative to SMOKE_OUT
	PropResult    = "result"    // PASS, FAIL, SKIPPED or INTERRUPTED
	PropReason    = "reason"    // one line: why FAIL, SKIPPED or INTERRUPTED
	PropNotes     = "notes"     // a JSON array of the section's notes
	PropWarnings  = "warnings"  // count of warning lines in the log
	PropNaN       = "nan_lines" // count of log lines with a NaN or Inf loss
	PropArtifacts = "artifacts" // a JSON array of the paths, relative to SMOKE_OUT, of files this section checked or copied
	// Telemetry peaks over the step.
	PropPeakMemMiB  = "peak_mem_mib"
	PropPeakUtilPct = "peak_util_pct"
	PropMaxTempC    = "max_temp_c"
	PropMaxPowerW   = "max_power_w"
	PropAtLoad      = "at_load" // a JSON array: each GPU's clocks, clock events and PCIe link at load
	// PropCase and PropCaseIndex are on a pytest case's subtest, not on a section: pytest's
	// classname::name, and its position among the lane's cases (from 1).
	PropCase      = "case"
	PropCaseIndex = "case_index"
)

// Section results.
const (
	Pass        = "PASS"
	Fail        = "FAIL"
	Skipped     = "SKIPPED"
	Interrupted = "INTERRUPTED"
	NA          = "NA"
	NotRun      = "NOT RUN" // a section the run did not reach, or that -run left out
)

// Results are the words a section's result may be.
var Results = []string{Pass, Fail, Skipped, Interrupted, NA, NotRun}

// SchemaVersion is run.json's and summary.json's schema_version.
const SchemaVersion = 2

// Run is run.json: the run's settings, the plan as it ran, each section's result, and what the
// guardrails found. The suite rewrites it after each section.
type Run struct {
	SchemaVersion int     `json:"schema_version"`
	Harness       Harness `json:"harness"`
	StartedUTC    string  `json:"started_utc"` // RFC 3339
	FinishedUTC   string  `json:"finished_utc,omitempty"`
	GPUMode       bool    `json:"gpu_mode"` // built with -tags gpu
	// Fixture is true when DIFFTRAIN_DIR was not set and the bundled stand-in ran.
	Fixture      bool   `json:"fixture"`
	DifftrainDir string `json:"difftrain_dir"`
	Workspace    string `json:"workspace"`
	Python       string `json:"python"` // SMOKE_PYTHON as resolved
	// PythonPath is the PYTHONPATH every step ran with, when the suite set one.
	PythonPath  string      `json:"python_path,omitempty"`
	Out         string      `json:"out"` // SMOKE_OUT, absolute
	Plan        PlanInfo    `json:"plan"`
	Sections    []Section   `json:"sections"`
	Git         GitInfo     `json:"git"`
	Interrupted string      `json:"interrupted,omitempty"` // signal name when the run was interrupted
	Guardrails  []Guardrail `json:"guardrails"`
	// TempConfigs are the temporary configs the AMP sections wrote (runbook: "record the path").
	TempConfigs []string `json:"temp_configs"`
	// Untracked are files written outside the paths the plan declares.
	Untracked []string `json:"untracked"`
	// Leftovers are an earlier run's files found in the output directories and moved aside.
	Leftovers []Leftover `json:"leftovers"`
	// CheckedExisting are the sections that checked files no step of this run wrote (a section
	// run alone with -run).
	CheckedExisting []string `json:"checked_existing"`
	// Orphans are the processes an earlier run left running, found before anything ran by the
	// step marker in their environment (SMOKE_STEP_ID, of a run whose suite is gone) and killed:
	// "pid 123 (python train.py ...), left by step <run id>/04-train".
	Orphans []string `json:"orphans,omitempty"`
	// Compute says whether the run's training used a GPU; nil until the run ends.
	Compute *Compute `json:"compute,omitempty"`
	// Computed is what the training computed, for comparing runs of one deterministic training
	// across GPUs and nodes (sdc); nil until the training section has run its checks.
	Computed *Computed `json:"computed,omitempty"`
	// Health are the health findings made while the steps ran: a PCIe link below its maximum
	// under load (gpuenv.LinkAtLoad), one line each, named by GPU.
	Health []string `json:"health,omitempty"`
	// Env is what the run saw of the variables that decide what difftrain does (HF_HUB_OFFLINE,
	// CUBLAS_WORKSPACE_CONFIG, ...): unset ones are absent.
	Env map[string]string `json:"env,omitempty"`
}

// DecisiveEnv are the variables that decide what difftrain's GPU smoke test skips (offline
// mode, the hub's endpoint) and whether a deterministic CUDA run works (cuBLAS's workspace): the
// report names each, set or unset.
var DecisiveEnv = []string{"CUBLAS_WORKSPACE_CONFIG", "HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}

// ReportedEnv are the variables run.json records as the run saw them (Run.Env): DecisiveEnv,
// the hub's cache and the visible GPUs.
var ReportedEnv = append(slices.Clone(DecisiveEnv), "HF_HOME", "CUDA_VISIBLE_DEVICES")

// Harness identifies the gpusmoke build that ran.
type Harness struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// PlanInfo identifies the approved plan that ran.
type PlanInfo struct {
	Name       string      `json:"name"`
	Path       string      `json:"path"` // "(embedded runbook)" for the default
	SHA256     string      `json:"sha256"`
	Deviations []Deviation `json:"deviations"`
}

// Deviation is a step whose command differs from the runbook, with the plan's written reason.
type Deviation struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Runbook string `json:"runbook"` // the runbook's command
	Command string `json:"command"` // the command that ran, or SkippedCommand
	Reason  string `json:"reason"`
}

// SkippedCommand is a Deviation's Command for a section the plan skips.
const SkippedCommand = "(skipped)"

// Section is one of the plan's sections: what the plan says of it, and what the run found.
type Section struct {
	Section  string `json:"section"` // "04"
	Name     string `json:"name"`    // "train"
	Title    string `json:"title"`
	Expected string `json:"expected"`
	Optional bool   `json:"optional"`
	// Command is the command the plan runs, with the interpreter substituted; "" for a
	// section that runs none.
	Command   string `json:"command,omitempty"`
	Deviation string `json:"deviation,omitempty"` // the plan's reason when it differs from the runbook
	Test      string `json:"test,omitempty"`      // the Go test that ran it

	Result    string   `json:"result"` // one of Results
	Reason    string   `json:"reason,omitempty"`
	ExitCode  *int     `json:"exit_code,omitempty"`
	Duration  string   `json:"duration,omitempty"` // seconds, "%.1f"
	Log       string   `json:"log,omitempty"`      // relative to Out
	Notes     []string `json:"notes,omitempty"`
	Warnings  int      `json:"warnings"`
	NaN       int      `json:"nan_lines"`           // log lines with a NaN or Inf loss
	Artifacts []string `json:"artifacts,omitempty"` // relative to Out
	Peaks     *Peaks   `json:"peaks,omitempty"`
	// Cases are the testcases of the test runner the section ran (a pytest lane), in its order.
	Cases []Case `json:"cases,omitempty"`
}

// Case is one testcase of a section's test runner (pytest's, in the lanes): the Go suite replays
// it as a subtest of the section's test, so that CI's JUnit carries it under the section.
type Case struct {
	ID     string `json:"id"`     // pytest's classname::name, e.g. tests.test_config::test_roundtrip
	Result string `json:"result"` // Pass, Fail or Skipped
	// Reason is the first line of the failure, or pytest's skip reason.
	Reason string `json:"reason,omitempty"`
}

// Counts sums cases by result, in the words pytest's own summary uses: "3 passed, 1 failed,
// 2 skipped"; "no tests" when there are none.
func Counts(cases []Case) string {
	n := map[string]int{}
	for _, c := range cases {
		n[c.Result]++
	}
	var parts []string
	for _, r := range []struct{ result, word string }{{Pass, "passed"}, {Fail, "failed"}, {Skipped, "skipped"}} {
		if n[r.result] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[r.result], r.word))
		}
	}
	if len(parts) == 0 {
		return "no tests"
	}
	return strings.Join(parts, ", ")
}

// ID is the section's label in logs and reasons, e.g. "04-train".
func (s Section) ID() string { return s.Section + "-" + s.Name }

// Computed is what a run's training computed: the loss logged at each step, as logged, the
// SHA-256 of every tensor of its checkpoints (artifacts.TensorDigests), and its step rate.
type Computed struct {
	Losses  []string     `json:"losses"`
	Tensors []sdc.Digest `json:"tensors"`
	// Comparable is false when the run cannot be compared with another (not deterministic, or
	// its outputs could not be read); Why says why.
	Comparable     bool    `json:"comparable"`
	Why            string  `json:"why,omitempty"`
	StepsPerSecond float64 `json:"steps_per_second,omitempty"`
}

// Member is the run's results as sdc compares them, under name.
func (r *Computed) Member(name string) sdc.Member {
	if r == nil {
		return sdc.Member{Name: name, Why: "no results recorded: its training did not pass"}
	}
	return sdc.Member{Name: name, Losses: r.Losses, Tensors: r.Tensors, Comparable: r.Comparable, Why: r.Why}
}

// Peaks are a section's telemetry peaks.
type Peaks struct {
	MemMiB  string `json:"mem_mib"`
	UtilPct string `json:"util_pct"`
	TempC   string `json:"temp_c"`
	PowerW  string `json:"power_w"`
	// AtLoad says, for each GPU, what its samples at load showed of its clocks, the reasons
	// they were held down, and its PCIe link (gpuenv.LoadPeaks).
	AtLoad []string `json:"at_load,omitempty"`
}

// GitInfo is the difftrain checkout's state before the run.
type GitInfo struct {
	IsRepo bool   `json:"is_repo"`
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	Clean  bool   `json:"clean"`
	Status string `json:"status,omitempty"` // git status --porcelain
	Error  string `json:"error,omitempty"`
}

// Guardrail is one rule the suite checked, and what it found.
type Guardrail struct {
	Rule   string `json:"rule"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Leftover is an output directory that held an earlier run's files, moved into the evidence.
type Leftover struct {
	Dir     string `json:"dir"`
	MovedTo string `json:"moved_to"` // relative to Out
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
}

// Compute is what the training ran on.
type Compute struct {
	GPUUsed bool   `json:"gpu_used"`
	Why     string `json:"why"` // the facts that decided it
}

// CPUOnlyBanner is the first line of the checklist and the report when no GPU was used.
const CPUOnlyBanner = "CPU only: no GPU was used"

// MaxRunBytes bounds run.json as the renderer reads it.
const MaxRunBytes = 16 << 20

// WriteRun writes run.json into out: every string redacted first, so redaction can never
// make it invalid JSON; written to a temporary file and renamed, so a reader never sees half.
func WriteRun(out string, r *Run, red *redact.Redactor) error {
	return writeJSON(filepath.Join(out, RunFile), r, red)
}

// ReadRun reads and checks run.json in dir. Errors name the file and the field.
func ReadRun(dir string) (*Run, error) {
	p := filepath.Join(dir, RunFile)
	var r Run
	if err := ReadJSON(p, &r, MaxRunBytes); err != nil {
		return nil, err
	}
	if r.StartedUTC == "" {
		return nil, fmt.Errorf("read %s: started_utc is empty", p)
	}
	for _, f := range []struct{ name, v string }{{"started_utc", r.StartedUTC}, {"finished_utc", r.FinishedUTC}} {
		if _, err := time.Parse(time.RFC3339, f.v); f.v != "" && err != nil {
			return nil, fmt.Errorf("read %s: %s: %q is not RFC 3339", p, f.name, f.v)
		}
	}
	seen := map[string]int{}
	for i, s := range r.Sections {
		if n, err := SectionNumber(s.Section); err != nil {
			return nil, fmt.Errorf("read %s: sections[%d].section: %w", p, i, err)
		} else {
			r.Sections[i].Section = n
		}
		if prev, dup := seen[r.Sections[i].Section]; dup {
			return nil, fmt.Errorf("read %s: sections[%d]: section %s is already sections[%d]", p, i, r.Sections[i].Section, prev)
		}
		seen[r.Sections[i].Section] = i
		if !slices.Contains(Results, s.Result) {
			return nil, fmt.Errorf("read %s: sections[%d].result: %q is not one of %s", p, i, s.Result, strings.Join(Results, ", "))
		}
	}
	for i, d := range r.Plan.Deviations {
		n, err := SectionNumber(d.Section)
		if err != nil {
			return nil, fmt.Errorf("read %s: plan.deviations[%d].section: %w", p, i, err)
		}
		r.Plan.Deviations[i].Section = n
	}
	for i, g := range r.Guardrails {
		if strings.TrimSpace(g.Rule) == "" {
			return nil, fmt.Errorf("read %s: guardrails[%d].rule is empty", p, i)
		}
	}
	return &r, nil
}

// SectionNumber turns "4" or "04" into "04".
func SectionNumber(v string) (string, error) {
	v = strings.TrimSpace(v)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 999 {
		return "", fmt.Errorf("%q is not a section number", v)
	}
	return fmt.Sprintf("%02d", n), nil
}

// writeJSON writes v as indented JSON to p, with every string redacted (red may be nil), through
// a temporary file renamed over p.
func writeJSON(p string, v any, red *redact.Redactor) error {
	b, err := EncodeJSON(v, red)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p, err)
	}
	return WriteFileAtomic(p, b, 0o644)
}

// EncodeJSON is v as the evidence's JSON files hold it: indented by two spaces, ending in a
// newline, and with every string redacted one by one when red is set, so that redaction can
// never make it invalid JSON.
func EncodeJSON(v any, red *redact.Redactor) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if red != nil {
		var tree any
		if err := json.Unmarshal(b, &tree); err != nil {
			return nil, err
		}
		if b, err = json.Marshal(red.Tree(tree)); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// WriteFileAtomic writes data to p through a temporary file in the same directory, renamed
// over p: a reader sees the old file or the new one, never half of one.
func WriteFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
