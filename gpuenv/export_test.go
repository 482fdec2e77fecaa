package gpuenv

import "time"

// Internals for the external tests (package gpuenv_test). Those tests reach NVML fakes through
// gpuenv/nvmlbind, which imports gpuenv: from an internal test that would be an import cycle.

// FakePython is fakePython, for the Collect tests.
var FakePython = fakePython

// Always marks f as a finding that fails preflight with or without -tags gpu (Finding.always).
func Always(f Finding) Finding {
	f.always = true
	return f
}

// SampleRound readies s for step and returns one sampling round at a fixed time: a tick's work
// without the goroutine, for the benchmark.
func SampleRound(s *Sampler, step string) func() {
	s.step = appendCSVField(nil, step)
	now := time.Now()
	return func() { s.sample(now) }
}
