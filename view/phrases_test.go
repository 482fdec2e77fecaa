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
