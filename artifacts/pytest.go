package artifacts

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// MaxPytestJUnitBytes bounds a pytest lane's JUnit as the suite reads it.
const MaxPytestJUnitBytes = 64 << 20

// PytestCase is one testcase of pytest's JUnit (--junitxml): a test that passed, failed (a
// <failure> or an <error>, such as a failed fixture) or was skipped (<skipped>, which pytest
// also writes for an xfail).
type PytestCase struct {
	ID      string // classname::name, e.g. tests.test_config::test_roundtrip
	Outcome string // PytestPassed, PytestFailed or PytestSkipped
	// Message is the first line of the failure, or the skip reason as pytest gives it.
	Message string
}

// pytest's outcomes, as its own summary line words them.
const (
	PytestPassed  = "passed"
	PytestFailed  = "failed"
	PytestSkipped = "skipped"
)

type pytestDoc struct {
	XMLName xml.Name
	Suites  []pytestSuite `xml:"testsuite"`
	Cases   []pytestCase  `xml:"testcase"` // a <testsuite> root (pytest before 5.1)
}

type pytestSuite struct {
	Cases []pytestCase `xml:"testcase"`
}

type pytestCase struct {
	Classname string          `xml:"classname,attr"`
	Name      string          `xml:"name,attr"`
	Failure   []pytestMessage `xml:"failure"`
	Error     []pytestMessage `xml:"error"`
	Skipped   []pytestMessage `xml:"skipped"`
}

type pytestMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// firstLine is the message's first non-empty line: of its message attribute, else of its text.
func (m pytestMessage) firstLine() string {
	for _, s := range []string{m.Message, m.Text} {
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				return line
			}
		}
	}
	return ""
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
	var doc pytestDoc
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&doc); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: no XML element in it", name)
	} else if err != nil {
		return nil, fmt.Errorf("%s: not XML: %v", name, err)
	}
	if root := doc.XMLName.Local; root != "testsuites" && root != "testsuite" {
		return nil, fmt.Errorf("%s: root element is <%s>, want pytest's <testsuites>", name, root)
	}
	all := doc.Cases
	for _, s := range doc.Suites {
		all = append(all, s.Cases...)
	}
	out := make([]PytestCase, 0, len(all))
	for i, c := range all {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: testcase %d: name is empty", name, i+1)
		}
		id := c.Name
		if c.Classname != "" {
			id = c.Classname + "::" + c.Name
		}
		pc := PytestCase{ID: id, Outcome: PytestPassed}
		switch {
		case len(c.Failure) > 0:
			pc.Outcome, pc.Message = PytestFailed, c.Failure[0].firstLine()
		case len(c.Error) > 0:
			pc.Outcome, pc.Message = PytestFailed, c.Error[0].firstLine()
		case len(c.Skipped) > 0:
			pc.Outcome, pc.Message = PytestSkipped, c.Skipped[0].firstLine()
		}
		out = append(out, pc)
	}
	return out, nil
}
