package evidence

import (
	"fmt"
	"path/filepath"

	"github.com/difftrain/gpusmoke/redact"
)

// Summary is summary.json: a run in a few machine-readable facts, for fleets and CI. The
// renderer writes it beside checklist.md and report.md.
type Summary struct {
	SchemaVersion int     `json:"schema_version"`
	Harness       Harness `json:"harness"`
	// Verdict is PASS, FAIL, INTERRUPTED or INCOMPLETE (evidence.Judge); ExitCode is the code
	// that goes with it (evidence.ExitCode).
	Verdict  string `json:"verdict"`
	ExitCode int    `json:"exit_code"`
	// Target is what ran: TargetDifftrain, TargetStandins (a conformance run) or TargetFixture.
	Target      string           `json:"target"`
	Plan        SummaryPlan      `json:"plan"`
	Fixture     bool             `json:"fixture"`
	GPUUsed     bool             `json:"gpu_used"`
	Host        string           `json:"host"`
	Driver      string           `json:"driver,omitempty"`
	GPUs        []SummaryGPU     `json:"gpus"`
	StartedUTC  string           `json:"started_utc"`
	FinishedUTC string           `json:"finished_utc,omitempty"`
	Out         string           `json:"out"`
	Sections    []SummarySection `json:"sections"`
	// FirstFailure is the first section that failed or was interrupted, nil when none did.
	FirstFailure *SummarySection `json:"first_failure,omitempty"`
	// PeakMemMiB is the highest GPU memory use sampled during any step; "" when none was.
	PeakMemMiB string `json:"peak_mem_mib,omitempty"`
	// Node is a node run's GPUs, each with its own run's verdict; nil for a run of one GPU.
	Node *SummaryNode `json:"node,omitempty"`
}

// SummaryNode is a node run's GPUs and what comparing them found.
type SummaryNode struct {
	GPUs []SummaryNodeGPU `json:"gpus"`
	// BadGPUs counts the GPUs that failed their run or that a finding that fails the node names.
	BadGPUs  int           `json:"bad_gpus"`
	Findings []NodeFinding `json:"findings"`
}

// SummaryNodeGPU is one GPU of a node run and its own run's verdict.
type SummaryNodeGPU struct {
	Index        int     `json:"index"`
	UUID         string  `json:"uuid"`
	Name         string  `json:"name"`
	Dir          string  `json:"dir"`
	Verdict      string  `json:"verdict"`
	Bad          bool    `json:"bad"`
	Reason       string  `json:"reason,omitempty"` // what its run says against it: its first failure, its health findings
	TrainSeconds float64 `json:"train_seconds,omitempty"`
}

// What a run ran against (Summary.Target): the real difftrain as it ships, difftrain with the
// stand-in model packages of the conformance lane (their versions end in StandinSuffix), or the
// bundled fixture.
const (
	TargetDifftrain = "difftrain"
	TargetStandins  = "difftrain+standins"
	TargetFixture   = "fixture"
	StandinSuffix   = "+gpusmoke.standin"
)

// SummaryPlan identifies the plan that ran, and how far it departs from the runbook.
type SummaryPlan struct {
	Name       string `json:"name"`
	SHA256     string `json:"sha256"`
	Deviations int    `json:"deviations"`
}

// SummaryGPU is one GPU as NVML named it.
type SummaryGPU struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	UUID  string `json:"uuid"`
}

// SummarySection is one section's outcome.
type SummarySection struct {
	ID     string `json:"id"` // "04-train"
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// MaxSummaryBytes bounds summary.json as a fleet report reads it.
const MaxSummaryBytes = 1 << 20

// WriteSummary writes summary.json into out (redacted, atomically, as run.json).
func WriteSummary(out string, s *Summary, red *redact.Redactor) error {
	return writeJSON(filepath.Join(out, SummaryFile), s, red)
}

// ReadSummary reads summary.json in dir.
func ReadSummary(dir string) (*Summary, error) {
	p := filepath.Join(dir, SummaryFile)
	var s Summary
	if err := ReadJSON(p, &s, MaxSummaryBytes); err != nil {
		return nil, err
	}
	if s.Verdict == "" {
		return nil, fmt.Errorf("read %s: verdict is empty", p)
	}
	return &s, nil
}
