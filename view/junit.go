package view

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/junit"
)

// fromJUnit takes each section's result from junit.xml, decoded from its testcase's properties
// (evidence.SectionFromProperties, the inverse of the record's Properties), with the plan's
// fields from run.json. A section junit.xml does not record did not run, whatever run.json was
// last told. Errors name the file, the testcase and the property.
func (e *Evidence) fromJUnit(p string, doc *junit.Doc) error {
	recorded := map[string]int{}                // section number → testcase
	refused := map[string]bool{}                // the recorded testcase is a refused retry
	cases := map[string]map[int]evidence.Case{} // a section's test → its runner's cases by position
	for i, c := range doc.AllCases() {
		n := i + 1
		where := func(format string, args ...any) error {
			return fmt.Errorf("read %s: testcase %d (%s): %s", p, n, c.Name, fmt.Sprintf(format, args...))
		}
		status, out := statusOf(c)
		if c.Name == "TestMain" {
			if status == evidence.Fail {
				e.TestMain = cmpOr(out, c.Outcome().Message)
			}
			continue
		}
		props := c.Props()
		if cs, pos, isCase, err := evidence.CaseFromProperties(props); isCase {
			parent, _, nested := strings.Cut(c.Name, "/")
			switch {
			case err != nil:
				return where("%v", err)
			case !nested:
				return where("property %s on a test that is not a section's subtest", evidence.PropCase)
			case resultStatus(cs.Result) != status:
				return where("property %s is %s, but JUnit records the testcase as %s", evidence.PropResult, cs.Result, junitWord[status])
			}
			if cases[parent] == nil {
				cases[parent] = map[int]evidence.Case{}
			}
			if _, dup := cases[parent][pos]; dup {
				return where("property %s: case %d of %s is already recorded", evidence.PropCaseIndex, pos, parent)
			}
			cases[parent][pos] = cs
			continue
		}
		res, isSection, err := evidence.SectionFromProperties(props)
		switch {
		case err != nil:
			return where("%v", err)
		case !isSection:
			if status == evidence.Fail {
				e.Others = append(e.Others, evidence.Section{Test: c.Name, Result: evidence.Fail, Reason: lastMessage(out)})
			}
			continue
		case resultStatus(res.Result) != status:
			// The suite's own word and JUnit's status must agree: correcting one from the other
			// would hide a bug of the suite.
			return where("property %s is %s, but JUnit records the testcase as %s", evidence.PropResult, res.Result, junitWord[status])
		}
		res.Test = c.Name
		// With -count=N the suite refuses to run a section again (the runbook forbids retries);
		// such a refusal never replaces the section's real result, wherever junit.xml lists it.
		refusal := res.Result == evidence.Skipped && strings.HasPrefix(res.Reason, "already ran in this process")
		if prev, dup := recorded[res.Section]; dup {
			switch {
			case refusal:
				continue
			case !refused[res.Section]:
				return where("section %s is already recorded by testcase %d", res.Section, prev)
			}
		}
		recorded[res.Section], refused[res.Section] = n, refusal
		if err := e.record(res); err != nil {
			return where("%v", err)
		}
	}
	for i, s := range e.Sections {
		if _, ok := recorded[s.Section]; !ok {
			plan, _ := e.Planned(s.Section)
			e.Sections[i] = withPlan(plan, evidence.Section{Result: evidence.NotRun})
		}
	}
	return e.foldCases(p, cases)
}

// record puts a section's result, read from junit.xml, in its place among the plan's.
func (e *Evidence) record(res evidence.Section) error {
	i := slices.IndexFunc(e.Sections, func(s evidence.Section) bool { return s.Section == res.Section })
	if i < 0 {
		return fmt.Errorf("section %s is not one of the plan's in %s", res.Section, evidence.RunFile)
	}
	plan, _ := e.Planned(res.Section)
	if res.Name != plan.Name {
		return fmt.Errorf("section %s is %q, but the plan in %s names it %q", res.Section, res.Name, evidence.RunFile, plan.Name)
	}
	e.Sections[i] = withPlan(plan, res)
	return nil
}

// withPlan is a section's result with what the plan says of it (run.json): title, expected,
// optional, deviation, and the plan's command when the result names none.
func withPlan(plan, res evidence.Section) evidence.Section {
	res.Section, res.Name, res.Title, res.Expected = plan.Section, plan.Name, plan.Title, plan.Expected
	res.Optional, res.Deviation = plan.Optional, plan.Deviation
	if res.Command == "" {
		res.Command = plan.Command
	}
	return res
}

// foldCases puts each section's runner cases (its test's subtests) under it, in their order. A
// gap in the positions, or a case whose section is not recorded, is an error.
func (e *Evidence) foldCases(p string, cases map[string]map[int]evidence.Case) error {
	for test, byPos := range cases {
		i := slices.IndexFunc(e.Sections, func(s evidence.Section) bool { return s.Test == test })
		last := 0
		for pos := range byPos {
			last = max(last, pos)
		}
		var cs []evidence.Case
		for pos := 1; pos <= last; pos++ {
			c, ok := byPos[pos]
			if !ok {
				return fmt.Errorf("read %s: %s: case %d of %d is missing", p, test, pos, last)
			}
			if i < 0 {
				return fmt.Errorf("read %s: testcase %s/%s: a pytest case of %s, which records no section", p, test, c.ID, test)
			}
			cs = append(cs, c)
		}
		e.Sections[i].Cases = cs
	}
	return nil
}

// statusOf is the testcase's JUnit status as a result word (Pass, Fail, Skipped), with what it
// says: the failure's text, or the skip's message.
func statusOf(c *junit.Case) (string, string) {
	m := c.Outcome()
	switch c.Status() {
	case junit.Failed:
		return evidence.Fail, m.Text
	case junit.Skipped:
		return evidence.Skipped, m.Message
	}
	return evidence.Pass, ""
}

// junitWord is how a JUnit status reads in errors.
var junitWord = map[string]string{evidence.Pass: "passed", evidence.Fail: "failed", evidence.Skipped: "skipped"}

// resultStatus is the JUnit status a result word goes with: PASS passed, FAIL and INTERRUPTED
// failed, SKIPPED and NA skipped.
func resultStatus(result string) string {
	switch result {
	case evidence.Interrupted:
		return evidence.Fail
	case evidence.NA:
		return evidence.Skipped
	}
	return result
}

var logPrefixRE = regexp.MustCompile(`^\s+[\w.\-]+\.go:\d+: (.*)$`)

// lastMessage is the last t.Log/t.Skip/t.Fatal message in a test's output: the reason a
// skipped or failed test gives when it did not record a reason property.
func lastMessage(output string) string {
	msg := ""
	for _, line := range strings.Split(output, "\n") {
		if m := logPrefixRE.FindStringSubmatch(line); m != nil {
			msg = m[1]
		}
	}
	if msg == "" {
		for _, line := range strings.Split(output, "\n") {
			t := strings.TrimSpace(line)
			if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") || t == "FAIL" || strings.HasPrefix(t, "FAIL\t") {
				continue
			}
			msg = t
			break
		}
	}
	return strings.TrimSpace(msg)
}
