package evidence

import (
	"fmt"
	"path/filepath"
)

// Two more documents the renderer writes into each evidence directory (evidence.Documents),
// kept here beside the fleet's files; they belong with layout.go's names.
const (
	PromFile         = "smoke.prom"    // the run in node_exporter's textfile-collector format
	TelemetrySVGFile = "telemetry.svg" // telemetry.csv drawn: one panel per GPU, sections as bands
)

// The fleet report's files: written by `checklist -fleet DIR` into DIR, or wherever -o says.
const (
	FleetFile     = "fleet.md"
	FleetJSONFile = "fleet.json"
)

// FleetSchemaVersion is fleet.json's schema_version.
const FleetSchemaVersion = 1

// Fleet is fleet.json: the runs of several instances (one evidence directory each, typically
// one per node of a Slurm job or pod of an Indexed Job) read from their summary.json, with
// their failures grouped by reason. fleet.md shows the same data.
type Fleet struct {
	SchemaVersion int `json:"schema_version"`
	// Verdict is FAIL when any instance failed, was interrupted or is MISSING; else INCOMPLETE
	// when any instance is INCOMPLETE; else PASS. ExitCode goes with it (evidence.ExitCode).
	Verdict  string `json:"verdict"`
	ExitCode int    `json:"exit_code"`
	// Counts are the instances per verdict (PASS, FAIL, INTERRUPTED, INCOMPLETE, MISSING).
	Counts map[string]int `json:"counts"`
	// FixtureRuns and CPUOnlyRuns count the instances that ran the bundled fixture, not a
	// difftrain checkout, and those whose training used no GPU.
	FixtureRuns int             `json:"fixture_runs"`
	CPUOnlyRuns int             `json:"cpu_only_runs"`
	Instances   []FleetInstance `json:"instances"`
	// Failures are the failed, interrupted and MISSING instances grouped by their first
	// failure's section and its reason with the node-specific parts normalised away, most
	// instances first.
	Failures []FleetGroup `json:"failures"`
}

// FleetInstance is one instance: one evidence directory and what its summary.json says.
type FleetInstance struct {
	Name string `json:"name"` // the directory's name (the node), or its path when names clash
	// Dir is the evidence directory, relative to fleet.json's directory when it lies below
	// it, else absolute.
	Dir      string `json:"dir"`
	Verdict  string `json:"verdict"` // the run's verdict, or MISSING
	ExitCode int    `json:"exit_code"`
	// MissingReason says why a MISSING instance is missing, naming the file.
	MissingReason string `json:"missing_reason,omitempty"`
	Host          string `json:"host,omitempty"`
	// GPU is the GPUs in a few words ("8× NVIDIA H100 80GB HBM3"); "" when NVML saw none.
	GPU         string       `json:"gpu,omitempty"`
	GPUs        []SummaryGPU `json:"gpus,omitempty"`
	Driver      string       `json:"driver,omitempty"`
	Fixture     bool         `json:"fixture"`
	GPUUsed     bool         `json:"gpu_used"`
	StartedUTC  string       `json:"started_utc,omitempty"`
	FinishedUTC string       `json:"finished_utc,omitempty"`
	Out         string       `json:"out,omitempty"` // SMOKE_OUT as the run recorded it
	// FirstFailure is the first section that failed or was interrupted, as in summary.json.
	FirstFailure *SummarySection `json:"first_failure,omitempty"`
	PeakMemMiB   string          `json:"peak_mem_mib,omitempty"`
	// Sections are the run's sections and their results, as in summary.json.
	Sections []SummarySection `json:"sections,omitempty"`
}

// FleetGroup is one reason for failing, and the instances that failed for it.
type FleetGroup struct {
	Verdict string `json:"verdict"` // FAIL, INTERRUPTED or MISSING
	// Section is the first failure's section ("04-train"); "" when the run failed outside any
	// section (a guardrail) or is MISSING.
	Section string `json:"section,omitempty"`
	// Reason is the first failure's reason with what differs from node to node (paths under
	// the run's own directory, the host and instance names, times, decimal measurements, pids,
	// GPU UUIDs, PCI bus ids, hex addresses) replaced by placeholders.
	Reason    string   `json:"reason"`
	Instances []string `json:"instances"` // their names, in the report's order
}

// WriteFleet writes fleet.json to the file p (atomically, as run.json).
func WriteFleet(p string, f *Fleet) error {
	return writeJSON(p, f, nil)
}

// ReadFleet reads the fleet.json file p.
func ReadFleet(p string) (*Fleet, error) {
	var f Fleet
	if err := ReadJSON(p, &f, MaxFleetBytes); err != nil {
		return nil, err
	}
	if f.SchemaVersion != FleetSchemaVersion {
		return nil, fmt.Errorf("read %s: schema_version %d, want %d", p, f.SchemaVersion, FleetSchemaVersion)
	}
	return &f, nil
}

// MaxFleetBytes bounds fleet.json as ReadFleet reads it: room for some 10,000 instances.
const MaxFleetBytes = 256 << 20

// FleetJSONPath is where fleet.json goes beside the markdown report md: md's name with .json
// for .md ("fleet.md" → "fleet.json"), or with .json added when it does not end in .md.
func FleetJSONPath(md string) string {
	if filepath.Ext(md) == ".md" {
		return md[:len(md)-len(".md")] + ".json"
	}
	return md + ".json"
}
