package main

// Copies of gotestsum's internal/junitxml structs, so the files have its exact shape.

import (
	"encoding/xml"
	"fmt"
	"os"
	"sort"
	"strings"
)

type JUnitTestSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []JUnitTestSuite
}
type JUnitTestSuite struct {
	XMLName    xml.Name        `xml:"testsuite"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Skipped    int             `xml:"skipped,attr,omitempty"`
	Time       string          `xml:"time,attr"`
	Name       string          `xml:"name,attr"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	TestCases  []JUnitTestCase
	Timestamp  string `xml:"timestamp,attr"`
}
type JUnitTestCase struct {
	XMLName     xml.Name          `xml:"testcase"`
	Classname   string            `xml:"classname,attr"`
	Name        string            `xml:"name,attr"`
	Time        string            `xml:"time,attr"`
	Properties  *JUnitProperties  `xml:"properties,omitempty"`
	SkipMessage *JUnitSkipMessage `xml:"skipped,omitempty"`
	Failure     *JUnitFailure     `xml:"failure,omitempty"`
}
type JUnitSkipMessage struct {
	Message string `xml:"message,attr"`
}
type JUnitProperties struct {
	Properties []JUnitProperty `xml:"property,omitempty"`
}
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}
type JUnitFailure struct {
	Message  string `xml:"message,attr"`
	Type     string `xml:"type,attr"`
	Contents string `xml:",chardata"`
}

type tc struct {
	name   string
	secs   float64
	status string // pass, fail, skip
	attrs  [][2]string
	logs   []string // t.Log / t.Skip / t.Fatal lines, "file.go:NN: msg"
}

const pkg = "github.com/difftrain/gpusmoke/smoke"

func output(t tc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== RUN   %s\n", t.name)
	for _, a := range t.attrs {
		fmt.Fprintf(&b, "=== ATTR  %s %s %s\n", t.name, a[0], a[1])
	}
	for _, l := range t.logs {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	word := map[string]string{"fail": "FAIL", "skip": "SKIP", "pass": "PASS"}[t.status]
	fmt.Fprintf(&b, "--- %s: %s (%.2fs)\n", word, t.name, t.secs)
	return b.String()
}

func writeJUnit(path, timestamp string, cases []tc) {
	var failed, skipped, passed []JUnitTestCase
	total := 0.0
	for _, t := range cases {
		total += t.secs
		j := JUnitTestCase{Classname: pkg, Name: t.name, Time: fmt.Sprintf("%f", t.secs)}
		if len(t.attrs) > 0 {
			ps := &JUnitProperties{}
			for _, a := range t.attrs {
				ps.Properties = append(ps.Properties, JUnitProperty{a[0], a[1]})
			}
			sort.Slice(ps.Properties, func(i, k int) bool { return ps.Properties[i].Name < ps.Properties[k].Name })
			j.Properties = ps
		}
		switch t.status {
		case "fail":
			j.Failure = &JUnitFailure{Message: "Failed", Contents: output(t)}
			failed = append(failed, j)
		case "skip":
			j.SkipMessage = &JUnitSkipMessage{Message: output(t)}
			skipped = append(skipped, j)
		default:
			passed = append(passed, j)
		}
	}
	suite := JUnitTestSuite{
		Tests: len(cases), Failures: len(failed), Skipped: len(skipped),
		Time: fmt.Sprintf("%f", total+0.5), Name: pkg,
		Properties: []JUnitProperty{{"go.version", "go1.26.8 linux/amd64"}},
		TestCases:  append(append(failed, skipped...), passed...),
		Timestamp:  timestamp,
	}
	doc := JUnitTestSuites{Tests: len(cases), Failures: len(failed), Time: fmt.Sprintf("%f", total+0.6), Suites: []JUnitTestSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "\t")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(path, append([]byte(xml.Header), b...), 0o644); err != nil {
		panic(err)
	}
}
