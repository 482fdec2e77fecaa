package sdc

import (
	"fmt"
	"strings"
)

// The values of SMOKE_SDC.
const (
	ModeUnset = ""     // fail when at least FailAgreeing members agree against an outlier (three GPUs or more), else warn
	ModeFail  = "fail" // any difference fails, with no majority too
	ModeWarn  = "warn" // a difference is a warning
	ModeOff   = "off"  // no comparison
)

// FailAgreeing is how many members must agree on the majority's results for an outlier to fail
// the run when SMOKE_SDC is unset: two that agree against a third (2 vs 1, a node of three GPUs)
// name it and fail; a node of two GPUs that differ has no majority, and only warns.
const FailAgreeing = 2

// CheckMode checks a value of SMOKE_SDC.
func CheckMode(mode string) error {
	switch mode {
	case ModeUnset, ModeFail, ModeWarn, ModeOff:
		return nil
	}
	return fmt.Errorf("SMOKE_SDC=%s: want fail, warn or off", mode)
}

// Decision is what a comparison means for the run under a mode.
type Decision struct {
	Fail bool   // the node (or fleet) fails on it
	Warn bool   // the results differ, and it is a warning
	Say  string // one line for the report
}

// Decide applies SMOKE_SDC's rule to r: unset, an outlier fails when at least FailAgreeing
// members agree against it and warns when fewer do, and results with no majority warn; fail
// fails on any difference; warn only warns; off says the comparison was not made. Runs that
// cannot be compared never pass as agreeing: the line says they were not compared and why.
// A mode CheckMode refuses is taken as unset.
func Decide(r Result, mode string) Decision {
	if mode == ModeOff {
		return Decision{Say: "not compared (SMOKE_SDC=off)"}
	}
	skipped := notCompared(r.NotCompared)
	switch {
	case r.Compared < 2:
		return Decision{Say: fmt.Sprintf("not compared: %d of %d runs can be compared, two are needed%s", r.Compared, r.Compared+len(r.NotCompared), skipped)}
	case len(r.Groups) == 1:
		return Decision{Say: fmt.Sprintf("%d runs computed the same: the same loss at each of %d steps and the same bytes in %d tensors%s", r.Compared, r.Steps, r.Tensors, skipped)}
	case r.Majority == nil:
		d := Decision{Fail: mode == ModeFail, Say: fmt.Sprintf("the runs differ and no majority agrees (%s): no run can be named%s", groups(r.Groups), skipped)}
		d.Warn = !d.Fail
		return d
	}
	lines := make([]string, len(r.Outliers))
	for i, o := range r.Outliers {
		lines[i] = o.String()
	}
	say := strings.Join(lines, "; ")
	d := Decision{Fail: mode == ModeFail || mode != ModeWarn && len(r.Majority) >= FailAgreeing}
	if d.Warn = !d.Fail; d.Warn && mode != ModeWarn {
		say += fmt.Sprintf(" (a warning: fewer than %d agree; SMOKE_SDC=fail fails on it)", FailAgreeing)
	}
	d.Say = say + skipped
	return d
}

// notCompared is "; left out: gpu1 (why), ..." or "".
func notCompared(s []Skipped) string {
	if len(s) == 0 {
		return ""
	}
	parts := make([]string, len(s))
	for i, m := range s {
		parts[i] = fmt.Sprintf("%s (%s)", m.Name, m.Why)
	}
	return "; left out: " + strings.Join(parts, ", ")
}

// groups is "gpu0, gpu2 | gpu1, gpu3".
func groups(g [][]string) string {
	parts := make([]string, len(g))
	for i, names := range g {
		parts[i] = strings.Join(names, ", ")
	}
	return strings.Join(parts, " | ")
}
