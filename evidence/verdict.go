package evidence

// The verdicts of a run, and of a fleet of runs. A run's verdict is Judge's, from its sections'
// results; each verdict has one exit code (ExitCode), the same for the suite, run-smoke, the
// renderer and a CI gate. The README's "Verdicts and exit codes" says this in words.
//
//   - PASS: every section of the plan ran and passed, or does not apply (NA): the approved plan
//     skips it with a reason, or it needs a GPU and torch sees no CUDA (a CPU-only run, which
//     the documents say at the top).
//   - FAIL: a section failed, the suite failed around the sections, or a guardrail was
//     violated (a tracked file changed, a step wrote the evidence...).
//   - INTERRUPTED: the run was stopped (Ctrl-C, SIGTERM) before it ended.
//   - INCOMPLETE: nothing failed, but a section that applies did not run: -run left it out, or
//     it was skipped for a reason that is not NA's.
//
// Section results are Pass, Fail, Skipped, Interrupted, NA and NotRun (run.go).
const (
	Incomplete = "INCOMPLETE"
	// Missing is a fleet instance's verdict when its run left no summary.json that could be
	// read: no evidence directory, a run that never reached its end, or a file that is not one.
	Missing = "MISSING"
)

// Verdicts are the words a run's verdict may be, worst first; a fleet's instance may also be Missing.
var Verdicts = []string{Fail, Interrupted, Incomplete, Pass}

// Exit codes, of the suite, run-smoke and the renderer alike.
const (
	ExitPass       = 0 // PASS
	ExitFailed     = 1 // FAIL or INTERRUPTED (and, for a fleet, an instance MISSING)
	ExitUsage      = 2 // a bad setting or usage: one line names it, and nothing ran
	ExitEvidence   = 3 // the evidence could not be written, read or rendered, or changed since it was sealed
	ExitIncomplete = 4 // INCOMPLETE: nothing failed, but a section that applies did not run
)

// ExitCode is the exit code that goes with a verdict.
func ExitCode(verdict string) int {
	switch verdict {
	case Pass:
		return ExitPass
	case Incomplete:
		return ExitIncomplete
	}
	return ExitFailed
}

// Judge is a run's verdict from its sections' results, whether something failed outside them
// (the suite around its tests, a test that is no section, a violated guardrail), and whether
// the run was interrupted. NA counts for nothing.
func Judge(results []string, failedElsewhere, interrupted bool) string {
	incomplete := false
	for _, r := range results {
		switch r {
		case Fail:
			failedElsewhere = true
		case Interrupted:
			interrupted = true
		case Skipped, NotRun:
			incomplete = true
		}
	}
	switch {
	case failedElsewhere:
		return Fail
	case interrupted:
		return Interrupted
	case incomplete:
		return Incomplete
	}
	return Pass
}

// Worst is the result that speaks for several (a node's section over its GPUs), in the order
// Judge weighs them: Interrupted, Fail, then Skipped and NotRun (what did not run), NA, Pass.
func Worst(results ...string) string {
	rank := []string{Interrupted, Fail, NotRun, Skipped, NA, Pass}
	best := len(rank)
	for _, r := range results {
		for i, x := range rank {
			if r == x && i < best {
				best = i
			}
		}
	}
	if best == len(rank) {
		return Pass
	}
	return rank[best]
}
