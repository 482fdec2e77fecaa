package checklist

import (
	"strconv"

	"github.com/difftrain/gpusmoke/evidence"
)

// Summary is summary.json of the run: its verdict and exit code, the sections, the GPUs and
// the harness, for fleets and CI.
func (e *Evidence) Summary() evidence.Summary {
	s := evidence.Summary{
		SchemaVersion: evidence.SchemaVersion,
		Harness:       e.Run.Harness,
		Verdict:       e.Verdict(),
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
	for _, sec := range e.Sections {
		ss := evidence.SummarySection{ID: sec.Slug(), Result: sec.Result}
		if sec.Result != evidence.Pass {
			ss.Reason = sec.Reason
		}
		s.Sections = append(s.Sections, ss)
		if (sec.Result == evidence.Fail || sec.Result == evidence.Interrupted) && s.FirstFailure == nil {
			first := ss
			s.FirstFailure = &first
		}
		if n, err := strconv.Atoi(sec.Peaks.MemMiB); err == nil && n > peak {
			peak = n
		}
	}
	if s.FirstFailure == nil && e.TestMain != "" {
		s.FirstFailure = &evidence.SummarySection{ID: "TestMain", Result: evidence.Fail, Reason: lastMessage(e.TestMain)}
	}
	if peak >= 0 {
		s.PeakMemMiB = strconv.Itoa(peak)
	}
	return s
}
