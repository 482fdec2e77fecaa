package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/sdc"
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
	// Computed is what the run's training computed, in brief, for the fleet report to compare
	// runs of one model, driver and torch (Group) across nodes; nil when it did not train.
	Computed *SummaryComputed `json:"computed,omitempty"`
}

// SummaryComputed is a run's Computed in brief: its losses, and one digest per checkpoint over
// every tensor's digest in order. A node's is its GPUs' majority's.
type SummaryComputed struct {
	// Group is what runs must share to be compared: the GPU model, the driver and torch.
	Group       string       `json:"group"`
	Losses      []string     `json:"losses"`
	Checkpoints []sdc.Digest `json:"checkpoints"`
	Comparable  bool         `json:"comparable"`
	Why         string       `json:"why,omitempty"`
}

// Brief is c in brief (SummaryComputed), for runs of group.
func (c *Computed) Brief(group string) *SummaryComputed {
	if c == nil {
		return nil
	}
	b := &SummaryComputed{Group: group, Losses: c.Losses, Checkpoints: []sdc.Digest{}, Comparable: c.Comparable, Why: c.Why}
	for _, d := range c.Tensors {
		if n := len(b.Checkpoints); n == 0 || b.Checkpoints[n-1].Checkpoint != d.Checkpoint {
			b.Checkpoints = append(b.Checkpoints, sdc.Digest{Checkpoint: d.Checkpoint, Tensor: "(every tensor)"})
		}
		last := &b.Checkpoints[len(b.Checkpoints)-1]
		h := sha256.Sum256([]byte(last.SHA256 + d.Tensor + "\x00" + d.SHA256))
		last.SHA256 = hex.EncodeToString(h[:])
	}
	return b
}

// Member is the run's results in brief as sdc compares them, under name.
func (b *SummaryComputed) Member(name string) sdc.Member {
	if b == nil {
		return sdc.Member{Name: name, Why: "no results recorded: its training did not pass"}
	}
	return sdc.Member{Name: name, Losses: b.Losses, Tensors: b.Checkpoints, Comparable: b.Comparable, Why: b.Why}
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
	// FirstFailure is its run's first failure, as a run's summary says it.
	FirstFailure *SummarySection `json:"first_failure,omitempty"`
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
