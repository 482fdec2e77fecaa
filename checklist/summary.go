package checklist

import (
	"slices"
	"strconv"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// summaryJSON is summary.json: the run in a few machine-readable facts, for CI and fleets.
func summaryJSON(e *view.Evidence, _ view.Options) ([]byte, string, error) {
	s := summaryOf(e)
	b, err := evidence.EncodeJSON(&s, nil)
	return b, "", err
}

// summaryOf is the run's summary.json: its verdict and exit code, what ran (target and plan),
// the sections, the GPUs and the harness.
func summaryOf(e *view.Evidence) evidence.Summary {
	s := evidence.Summary{
		SchemaVersion: evidence.SchemaVersion,
		Harness:       e.Run.Harness,
		Verdict:       e.Verdict(),
		Target:        e.Target(),
		Plan:          evidence.SummaryPlan{Name: e.Run.Plan.Name, SHA256: e.Run.Plan.SHA256, Deviations: len(e.Deviations())},
		Fixture:       e.Run.Fixture,
		GPUUsed:       e.Run.Compute != nil && e.Run.Compute.GPUUsed,
		GPUs:          []evidence.SummaryGPU{},
		StartedUTC:    e.Run.StartedUTC,
		FinishedUTC:   e.Run.FinishedUTC,
		Out:           e.Out,
		Sections:      []evidence.SummarySection{},
	}
	s.ExitCode = evidence.ExitCode(s.Verdict)
	if e.Env != nil {
		s.Host = e.Env.Host.Hostname
		s.Driver = e.Env.NVML.DriverVersion
		for _, g := range e.Env.NVML.GPUs {
			s.GPUs = append(s.GPUs, evidence.SummaryGPU{Index: g.Index, Name: g.Name, UUID: g.UUID})
		}
	}
	peak := -1
	for _, sec := range allSections(e) {
		if sec.Peaks != nil {
			if n, err := strconv.Atoi(sec.Peaks.MemMiB); err == nil && n > peak {
				peak = n
			}
		}
	}
	for _, sec := range e.Sections {
		ss := evidence.SummarySection{ID: sec.ID(), Result: sec.Result, Reason: sec.Reason}
		s.Sections = append(s.Sections, ss)
		if (sec.Result == evidence.Fail || sec.Result == evidence.Interrupted) && s.FirstFailure == nil {
			first := ss
			s.FirstFailure = &first
		}
	}
	if s.FirstFailure == nil {
		for _, f := range e.Failures() {
			s.FirstFailure = &evidence.SummarySection{ID: f.Where, Result: f.Result, Reason: f.Reason}
			break
		}
	}
	if peak >= 0 {
		s.PeakMemMiB = strconv.Itoa(peak)
	}
	s.Node = nodeSummary(e)
	s.Computed = e.Computed()
	return s
}

// allSections are the run's sections and, in a node run, every GPU's: the peaks are over them all.
func allSections(e *view.Evidence) []evidence.Section {
	out := e.Sections
	if e.Node != nil {
		for _, g := range e.Node.GPUs {
			if g != nil {
				out = append(slices.Clip(out), g.Sections...)
			}
		}
	}
	return out
}
