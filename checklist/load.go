package checklist

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
)

// NotRun is the result of a section the run did not reach, or that a -run filter left out.
const NotRun = evidence.NotRun

// Evidence is one smoke run's evidence directory, read and checked.
type Evidence struct {
	Dir string // the directory as given
	// Out is SMOKE_OUT as the run recorded it (run.json "out"), else Dir: the paths the
	// checklist and report print are under it.
	Out    string
	Run    evidence.Run
	Env    *gpuenv.Facts // nil when gpu_env.json was not recorded
	SMI    string        // nvidia-smi.txt
	HasSMI bool
	// Sections are the plan's sections in section-number order, each with its result.
	Sections []Section
	// TestMain is the output of a failed TestMain (the suite failed before or around its
	// tests), read from junit.xml; empty when it did not fail or when rendering from run.json.
	TestMain string
	// Others are failed tests that carry no section (from junit.xml).
	Others    []Section
	Files     []File   // the files the sections checked, and every copy under artifacts/, by path
	Logs      []string // under logs/, relative to Out, sorted
	Repro     bool     // repro.sh exists
	Telemetry bool     // telemetry.csv exists
	// Source says what the sections' results were read from: run.json, or junit.xml.
	Source string
}

// Section is one of the plan's sections and what the run recorded for it.
type Section struct {
	Number  string // "04"
	Name    string // "train"
	Title   string
	Command string // the command that ran, or the plan's when it did not run one
	// Planned is the plan's command for the section, used to match a template row.
	Planned   string
	Expected  string
	Optional  bool
	Result    string // evidence.Pass, Fail, Skipped, Interrupted, NA, or NotRun
	Reason    string
	Notes     string
	Deviation string
	Warnings  int
	NaN       int // log lines with a NaN or Inf loss
	ExitCode  string
	Duration  string // seconds, as recorded
	Log       string // relative to Out
	Artifacts []string
	Peaks     Peaks
	Test      string // the test that ran it; empty when NotRun
	// Cases are the testcases of the section's test runner (a pytest lane's), in its order.
	Cases []evidence.Case
}

// Slug is the section's short name as the logs and reasons write it: "04-train".
func (s Section) Slug() string {
	if s.Name == "" {
		return s.Number
	}
	return s.Number + "-" + s.Name
}

// Peaks are a section's telemetry peaks as recorded; empty when not sampled.
type Peaks = evidence.Peaks

// File is a file of the evidence directory a section checked or copied, or the record of a
// file too large to copy.
type File struct {
	Path   string // relative to Out, slash-separated; for a reference, the copy it stands for
	Size   int64  // -1 when unknown
	SHA256 string
	// Ref is the original's path when only its *.sha256ref record was kept.
	Ref     string
	Missing bool     // named by a section but not present
	By      []string // sections that name it
}

// Load reads and checks the evidence directory dir as `make checklist` renders it: the plan
// and the run's facts from run.json, each section's result from gotestsum's junit.xml. A
// missing or malformed junit.xml or run.json is an error naming the file and the field; a
// missing gpu_env.json or nvidia-smi.txt is not.
func Load(dir string) (*Evidence, error) {
	e, err := load(dir)
	if err != nil {
		return nil, err
	}
	e.Source = evidence.JUnitFile
	if err := e.readJUnit(filepath.Join(dir, evidence.JUnitFile)); err != nil {
		return nil, err
	}
	return e, e.readFiles()
}

// LoadRun reads the evidence directory dir from run.json alone, as the suite renders it at the
// end of a run that gotestsum did not wrap (`go test ./smoke`).
func LoadRun(dir string) (*Evidence, error) {
	e, err := load(dir)
	if err != nil {
		return nil, err
	}
	e.Source = evidence.RunFile
	return e, e.readFiles()
}

func load(dir string) (*Evidence, error) {
	run, err := evidence.ReadRun(dir)
	if err != nil {
		return nil, err
	}
	if len(run.Sections) == 0 {
		return nil, fmt.Errorf("read %s: sections: none (run.json from a harness older than schema_version %d?)",
			filepath.Join(dir, evidence.RunFile), evidence.SchemaVersion)
	}
	e := &Evidence{Dir: dir, Run: *run, Out: run.Out}
	if e.Out == "" {
		e.Out = dir
	}
	for _, s := range run.Sections {
		e.Sections = append(e.Sections, fromRecord(s, s))
	}
	slices.SortStableFunc(e.Sections, func(a, b Section) int {
		x, _ := strconv.Atoi(a.Number)
		y, _ := strconv.Atoi(b.Number)
		return x - y
	})
	envPath := filepath.Join(dir, evidence.GPUEnvFile)
	if _, err := os.Stat(envPath); err == nil {
		f, err := gpuenv.Read(envPath)
		if err != nil {
			return nil, err
		}
		e.Env = f
	}
	smiPath := filepath.Join(dir, evidence.NvidiaSMIFile)
	if b, err := evidence.ReadFileLimit(smiPath, 1<<20); err == nil {
		e.SMI, e.HasSMI = string(b), true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, evidence.ReproFile)); err == nil {
		e.Repro = true
	}
	if _, err := os.Stat(filepath.Join(dir, evidence.TelemetryFile)); err == nil {
		e.Telemetry = true
	}
	if e.Logs, err = listFiles(dir, evidence.LogsDir); err != nil {
		return nil, err
	}
	return e, nil
}

// fromRecord is a section as the checklist shows it: plan is what run.json says the plan
// runs, res what the run recorded (the same record, or one read from junit.xml).
func fromRecord(plan, res evidence.Section) Section {
	s := Section{Number: plan.Section, Name: plan.Name, Title: plan.Title, Planned: plan.Command,
		Command: res.Command, Expected: plan.Expected, Optional: plan.Optional, Deviation: plan.Deviation,
		Result: res.Result, Reason: res.Reason, Notes: strings.Join(res.Notes, "; "), Warnings: res.Warnings,
		NaN: res.NaN, Duration: res.Duration, Log: res.Log, Artifacts: res.Artifacts, Test: res.Test, Cases: res.Cases}
	if s.Command == "" {
		s.Command = plan.Command
	}
	if res.ExitCode != nil {
		s.ExitCode = strconv.Itoa(*res.ExitCode)
	}
	if res.Peaks != nil {
		s.Peaks = *res.Peaks
	}
	return s
}

// The JUnit document as gotestsum writes it (internal/junitxml): <testsuites> of <testsuite>
// of <testcase>, each with <properties> from t.Attr, and a <failure> or <skipped> element.
type junitDoc struct {
	XMLName xml.Name
	Suites  []junitSuite `xml:"testsuite"`
	Cases   []junitCase  `xml:"testcase"` // when the root is itself a <testsuite>
}

type junitSuite struct {
	Name   string       `xml:"name,attr"`
	Cases  []junitCase  `xml:"testcase"`
	Suites []junitSuite `xml:"testsuite"`
}

type junitCase struct {
	Name       string          `xml:"name,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Skipped    *junitMessage   `xml:"skipped"`
	Failure    *junitFailure   `xml:"failure"`
	Error      *junitFailure   `xml:"error"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message  string `xml:"message,attr"`
	Contents string `xml:",chardata"`
}

func (d *junitDoc) cases() []junitCase {
	var out []junitCase
	var walk func([]junitSuite)
	walk = func(ss []junitSuite) {
		for _, s := range ss {
			out = append(out, s.Cases...)
			walk(s.Suites)
		}
	}
	out = append(out, d.Cases...)
	walk(d.Suites)
	return out
}

// MaxJUnitBytes bounds junit.xml as the renderer reads it.
const MaxJUnitBytes = 64 << 20

// readJUnit overlays each section's result as junit.xml records it on the plan from run.json.
func (e *Evidence) readJUnit(p string) error {
	b, err := evidence.ReadFileLimit(p, MaxJUnitBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("read %s: empty file", p)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: no XML element in it", p)
	} else if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if root := doc.XMLName.Local; root != "testsuites" && root != "testsuite" {
		return fmt.Errorf("read %s: root element is <%s>, want <testsuites>", p, root)
	}
	recorded := map[string]int{}                // section number → testcase
	refused := map[string]bool{}                // the recorded testcase is a refused retry
	cases := map[string]map[int]evidence.Case{} // a section's test → its runner's cases by position, from its subtests
	for i, c := range doc.cases() {
		n := i + 1
		where := func(format string, args ...any) error {
			return fmt.Errorf("read %s: testcase %d (%s): %s", p, n, c.Name, fmt.Sprintf(format, args...))
		}
		if c.Name == "" {
			return fmt.Errorf("read %s: testcase %d: name is empty", p, n)
		}
		status, output := evidence.Pass, ""
		switch {
		case c.Failure != nil:
			status, output = evidence.Fail, c.Failure.Contents
		case c.Error != nil:
			status, output = evidence.Fail, c.Error.Contents
		case c.Skipped != nil:
			status, output = evidence.Skipped, c.Skipped.Message
		}
		if c.Name == "TestMain" {
			if status == evidence.Fail {
				e.TestMain = output
				if e.TestMain == "" {
					e.TestMain = c.Failure.Message
				}
			}
			continue
		}
		props := map[string]string{}
		for _, pr := range c.Properties {
			props[pr.Name] = pr.Value
		}
		if cs, pos, isCase, err := evidence.CaseFromProperties(props); isCase {
			parent, _, nested := strings.Cut(c.Name, "/")
			switch {
			case err != nil:
				return where("%v", err)
			case !nested:
				return where("property %s on a test that is not a section's subtest", evidence.PropCase)
			case statusOf(cs.Result) != status:
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
		if err != nil {
			return where("%v", err)
		}
		if !isSection {
			if status == evidence.Fail {
				e.Others = append(e.Others, Section{Name: c.Name, Test: c.Name, Result: evidence.Fail, Reason: lastMessage(output)})
			}
			continue
		}
		if statusOf(res.Result) != status {
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
		i := slices.IndexFunc(e.Sections, func(s Section) bool { return s.Number == res.Section })
		if i < 0 {
			return where("section %s is not one of the plan's in %s", res.Section, evidence.RunFile)
		}
		plan := e.Run.Sections[slices.IndexFunc(e.Run.Sections, func(s evidence.Section) bool { return s.Section == res.Section })]
		if res.Name != plan.Name {
			return where("section %s is %q, but the plan in %s names it %q", res.Section, res.Name, evidence.RunFile, plan.Name)
		}
		e.Sections[i] = fromRecord(plan, res)
	}
	// A section's cases are its test's subtests; a subtest with a case whose section is not
	// recorded is an error, as a section recorded twice is.
	for test, byPos := range cases {
		i := slices.IndexFunc(e.Sections, func(s Section) bool { return s.Test == test })
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
	// A section junit.xml does not record did not run, whatever run.json was last told.
	for i, s := range e.Sections {
		if _, ok := recorded[s.Number]; !ok {
			e.Sections[i] = fromRecord(e.Run.Sections[slices.IndexFunc(e.Run.Sections, func(r evidence.Section) bool { return r.Section == s.Number })],
				evidence.Section{Result: NotRun})
		}
	}
	return nil
}

// junitWord is how a JUnit status reads in errors.
var junitWord = map[string]string{evidence.Pass: "passed", evidence.Fail: "failed", evidence.Skipped: "skipped"}

// statusOf is the JUnit status a result word goes with: PASS passed, FAIL and INTERRUPTED
// failed, SKIPPED and NA skipped.
func statusOf(result string) string {
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

// listFiles lists the regular files under dir/sub, relative to dir and slash-separated.
func listFiles(dir, sub string) ([]string, error) {
	root := filepath.Join(dir, sub)
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipAll
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	slices.Sort(out)
	return out, nil
}

// readFiles indexes the files the sections name, wherever they are in the evidence directory
// (gpu_env.json and repro.sh at its top, copies under artifacts/), and every copy under
// artifacts/, each hashed with the one hash; a reference stands for the copy it replaces.
func (e *Evidence) readFiles() error {
	copies, err := listFiles(e.Dir, evidence.CopiesDir)
	if err != nil {
		return err
	}
	byPath := map[string]*File{}
	add := func(rel string) error {
		full := filepath.Join(e.Dir, filepath.FromSlash(rel))
		f := File{Path: rel, Size: -1}
		if strings.HasSuffix(rel, evidence.RefSuffix) {
			f.Path = strings.TrimSuffix(rel, evidence.RefSuffix)
			switch ref, err := evidence.ReadRef(full); {
			case errors.Is(err, fs.ErrNotExist):
				f.Missing = true
			case err != nil:
				return err
			default:
				f.SHA256, f.Size, f.Ref = ref.SHA256, ref.Size, ref.Path
			}
		} else {
			switch sum, size, err := evidence.HashFile(full); {
			case errors.Is(err, fs.ErrNotExist):
				f.Missing = true
			case err != nil:
				return err
			default:
				f.SHA256, f.Size = sum, size
			}
		}
		byPath[f.Path] = &f
		return nil
	}
	for _, rel := range copies {
		if err := add(rel); err != nil {
			return err
		}
	}
	for _, s := range e.Sections {
		for _, a := range s.Artifacts {
			a = path.Clean(a)
			if _, ok := byPath[a]; !ok {
				if err := add(a); err != nil {
					return err
				}
			}
			if f := byPath[strings.TrimSuffix(a, evidence.RefSuffix)]; f != nil && !slices.Contains(f.By, s.Slug()) {
				f.By = append(f.By, s.Slug())
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		e.Files = append(e.Files, *byPath[p])
	}
	return nil
}
