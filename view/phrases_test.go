package view

import (
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
)

// Verdict is evidence.Judge's, with what failed outside the sections: an NA counts for nothing,
// a skip that is not NA makes the run INCOMPLETE.
func TestVerdict(t *testing.T) {
	type testCase struct {
		name string
		e    Evidence
		want string
	}
	pass := func(n string, optional bool) evidence.Section {
		return evidence.Section{Section: n, Result: evidence.Pass, Optional: optional}
	}
	with := func(s evidence.Section, result string) evidence.Section { s.Result = result; return s }
	for _, tc := range []testCase{
		{"all pass", Evidence{Sections: []evidence.Section{pass("00", false), pass("01", true)}}, "PASS"},
		{"skipped, not NA", Evidence{Sections: []evidence.Section{pass("00", false), with(pass("01", true), evidence.Skipped)}}, "INCOMPLETE"},
		{"optional NA", Evidence{Sections: []evidence.Section{pass("00", false), with(pass("01", true), evidence.NA)}}, "PASS"},
		{"required skipped", Evidence{Sections: []evidence.Section{with(pass("00", false), evidence.Skipped)}}, "INCOMPLETE"},
		{"not run", Evidence{Sections: []evidence.Section{pass("00", false), with(pass("01", true), evidence.NotRun)}}, "INCOMPLETE"},
		{"interrupted run", Evidence{Sections: []evidence.Section{pass("00", false)}, Run: evidence.Run{Interrupted: "SIGTERM"}}, "INTERRUPTED"},
		{"interrupted section", Evidence{Sections: []evidence.Section{with(pass("00", false), evidence.Interrupted)}}, "INTERRUPTED"},
		{"fail beats interrupted", Evidence{Sections: []evidence.Section{with(pass("00", false), evidence.Fail), with(pass("01", true), evidence.Interrupted)}}, "FAIL"},
		{"testmain", Evidence{Sections: []evidence.Section{pass("00", false)}, TestMain: "boom"}, "FAIL"},
		{"other test failed", Evidence{Sections: []evidence.Section{pass("00", false)}, Others: []evidence.Section{{Test: "TestX", Result: evidence.Fail}}}, "FAIL"},
		{"guardrail violated", Evidence{Sections: []evidence.Section{pass("00", false)}, Run: evidence.Run{Guardrails: []evidence.Guardrail{{Rule: "r", OK: false}}}}, "FAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Verdict(); got != tc.want {
				t.Errorf("Verdict() = %s, want %s", got, tc.want)
			}
		})
	}
}

// The Notes cell says each fact once: a section the plan leaves out has the deviation's reason
// as its own, and a deviation of a section that passed is still said.
func TestNotesSayTheDeviationOnce(t *testing.T) {
	why := "AMP is checked on the GPU fleet's own lane this week"
	for _, tc := range []struct {
		name string
		s    evidence.Section
		want string
	}{
		{"left out by the plan", evidence.Section{Result: evidence.NA, Reason: "not in this plan: " + why, Deviation: why},
			"not in this plan: " + why},
		{"passed, deviating", evidence.Section{Result: evidence.Pass, Reason: "ignored", Deviation: "an import check"},
			"deviation: an import check"},
		{"failed, deviating", evidence.Section{Result: evidence.Fail, Reason: "exit status 1", Deviation: "an import check"},
			"exit status 1; deviation: an import check"},
	} {
		if got := Notes(tc.s); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
