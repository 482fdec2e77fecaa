package artifacts

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/junit"
)

// MaxPytestJUnitBytes bounds a pytest lane's JUnit as the suite reads it.
const MaxPytestJUnitBytes = 64 << 20

// PytestCase is one testcase of pytest's JUnit (--junitxml): a test that passed, failed (a
// <failure> or an <error>, such as a failed fixture) or was skipped (<skipped>, which pytest
// also writes for an xfail).
type PytestCase struct {
	ID      string // classname::name, e.g. tests.test_config::test_roundtrip
	Outcome string // junit.Passed, junit.Failed or junit.Skipped, as pytest's summary line words them
	// Message is the first line of the failure, or the skip reason as pytest gives it.
	Message string
}

// ReadPytestJUnit reads the JUnit a pytest lane wrote. Errors name the file.
func ReadPytestJUnit(path string) ([]PytestCase, error) {
	b, err := evidence.ReadFileLimit(path, MaxPytestJUnitBytes)
	if err != nil {
		return nil, readErr("read pytest's JUnit", err)
	}
	return ParsePytestJUnit(path, b)
}

// ParsePytestJUnit reads pytest's JUnit from b; name is the file named in errors.
func ParsePytestJUnit(name string, b []byte) ([]PytestCase, error) {
	var doc junit.Doc
	if err := xml.Unmarshal(b, &doc); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: no XML element in it", name)
	} else if err != nil {
		return nil, fmt.Errorf("%s: not XML: %v", name, err)
	}
	if root := doc.XMLName.Local; root != "testsuites" && root != "testsuite" {
		return nil, fmt.Errorf("%s: root element is <%s>, want pytest's <testsuites>", name, root)
	}
	all := doc.AllCases()
	out := make([]PytestCase, 0, len(all))
	for i, c := range all {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: testcase %d: name is empty", name, i+1)
		}
		id := c.Name
		if c.Classname != "" {
			id = c.Classname + "::" + c.Name
		}
		out = append(out, PytestCase{ID: id, Outcome: c.Status(), Message: c.Outcome().FirstLine()})
	}
	return out, nil
}
