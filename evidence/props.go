package evidence

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Properties are the section's result as JUnit <properties>, in a fixed order: what CI and
// `make checklist` read back with SectionFromProperties.
func (s Section) Properties() [][2]string {
	props := [][2]string{{PropSection, s.Section}, {PropName, s.Name}, {PropResult, s.Result}}
	add := func(k, v string) {
		if v != "" {
			props = append(props, [2]string{k, v})
		}
	}
	add(PropReason, s.Reason)
	add(PropCommand, s.Command)
	if s.ExitCode != nil {
		add(PropExitCode, strconv.Itoa(*s.ExitCode))
	}
	add(PropDuration, s.Duration)
	add(PropLog, s.Log)
	add(PropNotes, jsonList(s.Notes))
	add(PropWarnings, strconv.Itoa(s.Warnings))
	add(PropNaN, strconv.Itoa(s.NaN))
	add(PropArtifacts, jsonList(s.Artifacts))
	if p := s.Peaks; p != nil {
		add(PropPeakMemMiB, p.MemMiB)
		add(PropPeakUtilPct, p.UtilPct)
		add(PropMaxTempC, p.TempC)
		add(PropMaxPowerW, p.PowerW)
		add(PropAtLoad, jsonList(p.AtLoad))
	}
	return props
}

// Properties are the JUnit <properties> of the section's n-th case (from 1) on its subtest:
// what the renderer folds back under the section, in the runner's order, with CaseFromProperties.
func (c Case) Properties(n int) [][2]string {
	props := [][2]string{{PropCase, c.ID}, {PropCaseIndex, strconv.Itoa(n)}, {PropResult, c.Result}}
	if c.Reason != "" {
		props = append(props, [2]string{PropReason, c.Reason})
	}
	return props
}

// CaseFromProperties reads a case and its position back from its subtest's JUnit properties;
// false when they name no case. Errors name the property.
func CaseFromProperties(props map[string]string) (c Case, n int, isCase bool, err error) {
	id, ok := props[PropCase]
	if !ok {
		return Case{}, 0, false, nil
	}
	c = Case{ID: id, Result: props[PropResult], Reason: props[PropReason]}
	if id == "" {
		return c, 0, true, fmt.Errorf("property %s: empty", PropCase)
	}
	if n, err = strconv.Atoi(props[PropCaseIndex]); err != nil || n < 1 {
		return c, 0, true, fmt.Errorf("property %s: %q is not a position from 1", PropCaseIndex, props[PropCaseIndex])
	}
	if !slices.Contains([]string{Pass, Fail, Skipped}, c.Result) {
		return c, 0, true, fmt.Errorf("property %s: %q is not one of %s, %s, %s", PropResult, c.Result, Pass, Fail, Skipped)
	}
	return c, n, true, nil
}

// SectionFromProperties reads a section's result back from its JUnit properties. It returns
// false when they name no section (a test that is not one of the plan's). Errors name the
// property.
func SectionFromProperties(props map[string]string) (Section, bool, error) {
	var s Section
	v, ok := props[PropSection]
	if !ok {
		return s, false, nil
	}
	n, err := SectionNumber(v)
	if err != nil {
		return s, true, fmt.Errorf("property %s: %w", PropSection, err)
	}
	s.Section, s.Name = n, props[PropName]
	s.Result = props[PropResult]
	if !slices.Contains(Results, s.Result) {
		return s, true, fmt.Errorf("property %s: %q is not one of %s", PropResult, s.Result, strings.Join(Results, ", "))
	}
	s.Reason, s.Command, s.Duration, s.Log = props[PropReason], props[PropCommand], props[PropDuration], props[PropLog]
	if v := props[PropExitCode]; v != "" {
		code, err := strconv.Atoi(v)
		if err != nil {
			return s, true, fmt.Errorf("property %s: %q is not an integer", PropExitCode, v)
		}
		s.ExitCode = &code
	}
	if s.Duration != "" {
		if _, err := strconv.ParseFloat(s.Duration, 64); err != nil {
			return s, true, fmt.Errorf("property %s: %q is not a number of seconds", PropDuration, s.Duration)
		}
	}
	for _, c := range []struct {
		name string
		dst  *int
	}{{PropWarnings, &s.Warnings}, {PropNaN, &s.NaN}} {
		if v := props[c.name]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return s, true, fmt.Errorf("property %s: %q is not a count", c.name, v)
			}
			*c.dst = n
		}
	}
	if s.Notes, err = readList(props, PropNotes); err != nil {
		return s, true, err
	}
	arts, err := readList(props, PropArtifacts)
	if err != nil {
		return s, true, err
	}
	for _, a := range arts {
		s.Artifacts = append(s.Artifacts, path.Clean(a))
	}
	var p Peaks
	for _, c := range []struct {
		name string
		dst  *string
	}{{PropPeakMemMiB, &p.MemMiB}, {PropPeakUtilPct, &p.UtilPct}, {PropMaxTempC, &p.TempC}, {PropMaxPowerW, &p.PowerW}} {
		v := props[c.name]
		if v == "" {
			continue
		}
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return s, true, fmt.Errorf("property %s: %q is not a number", c.name, v)
		}
		*c.dst = v
	}
	if p.AtLoad, err = readList(props, PropAtLoad); err != nil {
		return s, true, err
	}
	if p.MemMiB != "" || p.UtilPct != "" || p.TempC != "" || p.PowerW != "" || len(p.AtLoad) > 0 {
		s.Peaks = &p
	}
	return s, true, nil
}

// jsonList is a list property: a JSON array of strings, so that an item may hold any text
// (a note quoting a log line with a ";" in it); "" for none.
func jsonList(items []string) string {
	if len(items) == 0 {
		return ""
	}
	b, _ := json.Marshal(items)
	return string(b)
}

// readList reads a list property jsonList wrote.
func readList(props map[string]string, name string) ([]string, error) {
	v := props[name]
	if v == "" {
		return nil, nil
	}
	var items []string
	if err := json.Unmarshal([]byte(v), &items); err != nil {
		return nil, fmt.Errorf("property %s: want a JSON array of strings: %v", name, err)
	}
	return items, nil
}
