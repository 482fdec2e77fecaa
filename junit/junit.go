// Package junit reads and writes the JUnit XML the harness meets: gotestsum's junit.xml, which
// CI ingests and the documents are rendered from, and pytest's --junitxml of the lanes. It
// keeps every attribute and element it does not name, so a file it rewrites loses nothing.
package junit

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// Doc is a JUnit file: a <testsuites> root, or a <testsuite> one (pytest before 5.1), as read.
type Doc struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Suites  []*Suite   `xml:"testsuite"`
	Cases   []*Case    `xml:"testcase"` // the cases of a <testsuite> root
	Other   []Element  `xml:",any"`
}

// Suite is one <testsuite>.
type Suite struct {
	XMLName    xml.Name   `xml:"testsuite"`
	Attrs      []xml.Attr `xml:",any,attr"`
	Properties []Property `xml:"properties>property,omitempty"`
	Cases      []*Case    `xml:"testcase"`
	Suites     []*Suite   `xml:"testsuite"`
	Other      []Element  `xml:",any"`
}

// Case is one <testcase>.
type Case struct {
	XMLName    xml.Name   `xml:"testcase"`
	Classname  string     `xml:"classname,attr,omitempty"`
	Name       string     `xml:"name,attr"`
	Attrs      []xml.Attr `xml:",any,attr"`
	Properties *Props     `xml:"properties,omitempty"`
	Skipped    []Message  `xml:"skipped,omitempty"`
	Failure    []Message  `xml:"failure,omitempty"`
	Error      []Message  `xml:"error,omitempty"`
	SystemOut  string     `xml:"system-out,omitempty"`
	Other      []Element  `xml:",any"`
}

// Props is a testcase's <properties>: gotestsum writes them from t.Attr.
type Props struct {
	Property []Property `xml:"property"`
}

// Property is one <property name=... value=...>.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Message is a <failure>, <error> or <skipped>: its message attribute and its text.
type Message struct {
	Message string     `xml:"message,attr,omitempty"`
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
}

// Element is an element the package does not name, kept as it was.
type Element struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Inner   []byte     `xml:",innerxml"`
}

// The results of a testcase, as Status says them.
const (
	Passed  = "passed"
	Failed  = "failed" // a <failure> or an <error>
	Skipped = "skipped"
)

// Status is the testcase's result: Failed when it holds a <failure> or an <error>, else
// Skipped when it holds a <skipped>, else Passed.
func (c *Case) Status() string {
	switch {
	case len(c.Failure)+len(c.Error) > 0:
		return Failed
	case len(c.Skipped) > 0:
		return Skipped
	}
	return Passed
}

// Outcome is the message of what decided Status (the first <failure>, else <error>, else
// <skipped>), or a zero Message for a passed testcase.
func (c *Case) Outcome() Message {
	for _, ms := range [][]Message{c.Failure, c.Error, c.Skipped} {
		if len(ms) > 0 {
			return ms[0]
		}
	}
	return Message{}
}

// FirstLine is the message's first non-blank line: of its message attribute, else of its text.
func (m Message) FirstLine() string {
	for _, s := range []string{m.Message, m.Text} {
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				return line
			}
		}
	}
	return ""
}

// Props are the testcase's properties by name.
func (c *Case) Props() map[string]string {
	out := map[string]string{}
	if c.Properties != nil {
		for _, p := range c.Properties.Property {
			out[p.Name] = p.Value
		}
	}
	return out
}

// AllCases are the document's testcases in file order, through nested suites.
func (d *Doc) AllCases() []*Case {
	out := append([]*Case(nil), d.Cases...)
	var walk func([]*Suite)
	walk = func(ss []*Suite) {
		for _, s := range ss {
			out = append(out, s.Cases...)
			walk(s.Suites)
		}
	}
	walk(d.Suites)
	return out
}

// Read reads the JUnit file p, at most limit bytes. Errors name the file; a testcase with no name is one.
func Read(p string, limit int64) (*Doc, error) {
	b, err := evidence.ReadFileLimit(p, limit)
	if err != nil {
		return nil, err
	}
	return Parse(p, b)
}

// Parse reads a JUnit document from b; name is the file named in errors.
func Parse(name string, b []byte) (*Doc, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("read %s: empty file", name)
	}
	var d Doc
	if err := xml.Unmarshal(b, &d); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: no XML element in it", name)
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if root := d.XMLName.Local; root != "testsuites" && root != "testsuite" {
		return nil, fmt.Errorf("read %s: root element is <%s>, want <testsuites>", name, root)
	}
	for i, c := range d.AllCases() {
		if c.Name == "" {
			return nil, fmt.Errorf("read %s: testcase %d: name is empty", name, i+1)
		}
	}
	return &d, nil
}

// Encode is the document as XML with a declaration, indented with tabs, as gotestsum writes it.
func (d *Doc) Encode() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "\t")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
