package checklist

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"time"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/gpuenv"
)

// NotRun is the result of a runbook section that junit.xml does not record: the run was
// interrupted before it, or a -run filter left it out.
const NotRun = "NOT RUN"

// Evidence is one smoke run's evidence directory, read and checked.
type Evidence struct {
	Dir string // the directory as given
	// Out is SMOKE_OUT as the run recorded it (run.json "out"), else Dir: the paths the
	// checklist and report print are under it.
	Out    string
	Run    artifacts.RunInfo
	Env    *gpuenv.Facts // nil when gpu_env.json was not recorded
	SMI    string        // nvidia-smi.txt
	HasSMI bool
	// Sections are the runbook's sections in section-number order, each with its result;
	// a section junit.xml does not record is NotRun.
	Sections []Section
	// TestMain is the output of a failed TestMain (the suite failed before or around its
	// tests); empty when TestMain did not fail.
	TestMain string
	// Others are failed tests that carry no section number.
	Others    []Section
	Files     []File   // under artifacts/, sorted by path
	Logs      []string // under logs/, relative to Out, sorted
	Repro     bool     // repro.sh exists
	Telemetry bool     // telemetry.csv exists
}

// Section is one runbook section and what the run recorded for it.
type Section struct {
	Number  string // "04"
	Name    string // "train"
	Title   string
	Command string
	// Planned is the runbook's command for the section, used to match a template row when
	// the section recorded no command of its own (it was skipped before it ran one).
	Planned   string
	Expected  string
	Optional  bool
	Result    string // artifacts.Pass, Fail, Skipped, Interrupted, NA, or NotRun
	Reason    string
	Notes     string
	Deviation string
	Warnings  int
	ExitCode  string
	Duration  string // seconds, as recorded
	Log       string // relative to Out
	Artifacts []string
	Peaks     Peaks
	Test      string // the test that ran it; empty when NotRun
	Output    string // the test's output from junit.xml (failure text or skip message)
	Subtests  []string
}

// refusedRetry reports whether s is the suite refusing to run a section a second time.
func refusedRetry(s Section) bool {
	return s.Result == artifacts.Skipped && strings.HasPrefix(s.Reason, "already ran in this process")
}

// Slug is the section's short name as the logs and reasons write it: "04-train".
func (s Section) Slug() string {
	if s.Name == "" {
		return s.Number
	}
	return s.Number + "-" + s.Name
}

// Peaks are a section's telemetry peaks as recorded; empty when not sampled.
type Peaks struct {
	MemMiB  string
	UtilPct string
	TempC   string
	PowerW  string
}

func (p Peaks) empty() bool { return p == Peaks{} }

// File is one file under SMOKE_OUT/artifacts, or the record of a file too large to copy.
type File struct {
	Path   string // relative to Out, slash-separated; for a reference, the copy it stands for
	Size   int64  // -1 when unknown
	SHA256 string
	// Ref is the original's path when the file was too large to copy and only its
	// *.sha256ref record was kept.
	Ref     string
	Missing bool     // named by a section's artifacts property but not present
	By      []string // sections whose artifacts property names it
}

var (
	digitsRE   = regexp.MustCompile(`^Test(\d+)`)
	validWords = []string{artifacts.Pass, artifacts.Fail, artifacts.Skipped, artifacts.Interrupted, artifacts.NA}
)

// Load reads and checks the evidence directory dir. A missing or malformed junit.xml or
// run.json is an error naming the file and the field; a missing gpu_env.json or
// nvidia-smi.txt is not.
func Load(dir string) (*Evidence, error) {
	e := &Evidence{Dir: dir}
	if err := readRunInfo(filepath.Join(dir, artifacts.RunFile), &e.Run); err != nil {
		return nil, err
	}
	e.Out = e.Run.Out
	if e.Out == "" {
		e.Out = dir
	}
	if err := e.readJUnit(filepath.Join(dir, artifacts.JUnitFile)); err != nil {
		return nil, err
	}
	envPath := filepath.Join(dir, gpuenv.FileName)
	if _, err := os.Stat(envPath); err == nil {
		f, err := gpuenv.Read(envPath)
		if err != nil {
			return nil, err
		}
		e.Env = f
	}
	if b, err := os.ReadFile(filepath.Join(dir, artifacts.NvidiaSMIFile)); err == nil {
		e.SMI, e.HasSMI = string(b), true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, artifacts.NvidiaSMIFile), err)
	}
	if _, err := os.Stat(filepath.Join(dir, artifacts.ReproFile)); err == nil {
		e.Repro = true
	}
	if _, err := os.Stat(filepath.Join(dir, artifacts.TelemetryFile)); err == nil {
		e.Telemetry = true
	}
	var err error
	if e.Logs, err = listFiles(dir, artifacts.LogsDir); err != nil {
		return nil, err
	}
	if err := e.readArtifacts(); err != nil {
		return nil, err
	}
	return e, nil
}

func readRunInfo(p string, ri *artifacts.RunInfo) error {
	if err := decodeJSON(p, ri); err != nil {
		return err
	}
	if ri.StartedUTC == "" {
		return fmt.Errorf("read %s: started_utc is empty", p)
	}
	if _, err := time.Parse(time.RFC3339, ri.StartedUTC); err != nil {
		return fmt.Errorf("read %s: started_utc: %q is not RFC 3339", p, ri.StartedUTC)
	}
	if ri.FinishedUTC != "" {
		if _, err := time.Parse(time.RFC3339, ri.FinishedUTC); err != nil {
			return fmt.Errorf("read %s: finished_utc: %q is not RFC 3339", p, ri.FinishedUTC)
		}
	}
	for i, d := range ri.Plan.Deviations {
		if _, err := sectionNumber(d.Section); err != nil {
			return fmt.Errorf("read %s: plan.deviations[%d].section: %w", p, i, err)
		}
		ri.Plan.Deviations[i].Section, _ = sectionNumber(d.Section)
	}
	for i, g := range ri.Guardrails {
		if strings.TrimSpace(g.Rule) == "" {
			return fmt.Errorf("read %s: guardrails[%d].rule is empty", p, i)
		}
	}
	return nil
}

// decodeJSON reads the JSON file p into v; errors name the file and, where the decoder says,
// the field or the line.
func decodeJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return fmt.Errorf("read %s: line %d: %v", p, line, se)
		case errors.As(err, &te) && te.Field == "":
			return fmt.Errorf("read %s: want a JSON object, got %s", p, te.Value)
		case errors.As(err, &te):
			return fmt.Errorf("read %s: field %s: %s is not %s", p, te.Field, te.Value, te.Type)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("read %s: empty file", p)
		}
		return fmt.Errorf("read %s: %v", p, err)
	}
	// Only io.EOF says nothing follows the document (dec.More is false before a stray '}').
	end := min(int(dec.InputOffset()), len(b))
	if _, err := dec.Token(); err != io.EOF {
		extra := len(b) - len(bytes.TrimLeft(b[end:], " \t\r\n"))
		return fmt.Errorf("read %s: line %d: extra data after the JSON document", p, 1+bytes.Count(b[:extra], []byte("\n")))
	}
	return nil
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

func (e *Evidence) readJUnit(p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
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
	bySection := map[string]*Section{}
	firstCase := map[string]int{}
	type sub struct {
		parent, name, result string
	}
	var subs []sub
	for i, c := range doc.cases() {
		n := i + 1
		where := func(format string, args ...any) error {
			return fmt.Errorf("read %s: testcase %d (%s): %s", p, n, c.Name, fmt.Sprintf(format, args...))
		}
		if c.Name == "" {
			return fmt.Errorf("read %s: testcase %d: name is empty", p, n)
		}
		if c.Name == "TestMain" {
			if c.Failure != nil {
				e.TestMain = c.Failure.Contents
				if e.TestMain == "" {
					e.TestMain = c.Failure.Message
				}
			}
			continue
		}
		junitResult := artifacts.Pass
		output := ""
		switch {
		case c.Failure != nil:
			junitResult, output = artifacts.Fail, c.Failure.Contents
		case c.Error != nil:
			junitResult, output = artifacts.Fail, c.Error.Contents
		case c.Skipped != nil:
			junitResult, output = artifacts.Skipped, c.Skipped.Message
		}
		if parent, name, ok := strings.Cut(c.Name, "/"); ok {
			subs = append(subs, sub{parent, name, junitResult})
			continue
		}
		props := map[string]string{}
		for _, pr := range c.Properties {
			props[pr.Name] = pr.Value
		}
		s := Section{Test: c.Name, Output: output}
		if v, ok := props[artifacts.PropSection]; ok {
			num, err := sectionNumber(v)
			if err != nil {
				return where("property %s: %v", artifacts.PropSection, err)
			}
			s.Number = num
		} else if m := digitsRE.FindStringSubmatch(c.Name); m != nil {
			s.Number, _ = sectionNumber(m[1])
		}
		s.Name = props[artifacts.PropName]
		s.Title = props[artifacts.PropTitle]
		s.Command = props[artifacts.PropCommand]
		s.Expected = props[artifacts.PropExpected]
		s.Reason = props[artifacts.PropReason]
		s.Notes = props[artifacts.PropNotes]
		s.Deviation = props[artifacts.PropDeviation]
		s.Log = props[artifacts.PropLog]
		s.Result = props[artifacts.PropResult]
		if s.Result != "" && !slices.Contains(validWords, s.Result) {
			return where("property %s: %q is not one of %s", artifacts.PropResult, s.Result, strings.Join(validWords, ", "))
		}
		switch {
		case s.Result == "":
			s.Result = junitResult
		case statusOf(s.Result) != junitResult:
			// The suite's own word and JUnit's status must agree: correcting one from the other
			// would hide a bug of the suite.
			return where("property %s is %s, but JUnit records the testcase as %s", artifacts.PropResult, s.Result,
				map[string]string{artifacts.Pass: "passed", artifacts.Fail: "failed", artifacts.Skipped: "skipped"}[junitResult])
		}
		if v := props[artifacts.PropWarnings]; v != "" {
			w, err := strconv.Atoi(v)
			if err != nil || w < 0 {
				return where("property %s: %q is not a count", artifacts.PropWarnings, v)
			}
			s.Warnings = w
		}
		if v := props[artifacts.PropExitCode]; v != "" {
			if _, err := strconv.Atoi(v); err != nil {
				return where("property %s: %q is not an integer", artifacts.PropExitCode, v)
			}
			s.ExitCode = v
		}
		s.Duration = props[artifacts.PropDuration]
		if s.Duration != "" {
			if _, err := strconv.ParseFloat(s.Duration, 64); err != nil {
				return where("property %s: %q is not a number of seconds", artifacts.PropDuration, s.Duration)
			}
		} else if c.Time != "" && s.Result != artifacts.Skipped && s.Result != artifacts.NA {
			if f, err := strconv.ParseFloat(strings.ReplaceAll(c.Time, ",", ""), 64); err == nil {
				s.Duration = strconv.FormatFloat(f, 'f', 1, 64)
			}
		}
		for _, kv := range []struct {
			name string
			dst  *string
		}{
			{artifacts.PropPeakMemMiB, &s.Peaks.MemMiB},
			{artifacts.PropPeakUtilPct, &s.Peaks.UtilPct},
			{artifacts.PropMaxTempC, &s.Peaks.TempC},
			{artifacts.PropMaxPowerW, &s.Peaks.PowerW},
		} {
			v := props[kv.name]
			if v == "" {
				continue
			}
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return where("property %s: %q is not a number", kv.name, v)
			}
			*kv.dst = v
		}
		for _, a := range strings.Split(props[artifacts.PropArtifacts], ";") {
			if a = strings.TrimSpace(a); a != "" {
				s.Artifacts = append(s.Artifacts, filepath.ToSlash(a))
			}
		}
		if s.Reason == "" && s.Result != artifacts.Pass {
			s.Reason = lastMessage(output)
		}
		if s.Number == "" {
			if s.Result == artifacts.Fail || s.Result == artifacts.Interrupted {
				s.Name = c.Name
				e.Others = append(e.Others, s)
			}
			continue
		}
		// With -count=N the suite refuses to run a section again (the runbook forbids
		// retries); such a refusal does not replace the section's real result.
		if refusedRetry(s) {
			if _, dup := firstCase[s.Number]; dup {
				continue
			}
		} else if prev, dup := firstCase[s.Number]; dup && !refusedRetry(*bySection[s.Number]) {
			return where("section %s is already recorded by testcase %d", s.Number, prev)
		}
		firstCase[s.Number] = n
		if cat, ok := lookupCatalog(s.Number); ok {
			s.Optional = cat.Optional
			s.Planned = cat.Command
			if s.Name == "" {
				s.Name = cat.Name
			}
			if s.Title == "" {
				s.Title = cat.Title
			}
			if s.Expected == "" {
				s.Expected = cat.Expected
			}
		}
		if s.Name == "" {
			s.Name = strings.ToLower(strings.TrimLeft(strings.TrimPrefix(c.Name, "Test"), "0123456789"))
		}
		sec := s
		bySection[s.Number] = &sec
	}
	for _, sb := range subs {
		for _, s := range bySection {
			if s.Test == sb.parent && sb.result != artifacts.Pass {
				s.Subtests = append(s.Subtests, sb.name+": "+sb.result)
			}
		}
	}
	for _, cat := range catalog {
		if _, ok := bySection[cat.Number]; !ok {
			bySection[cat.Number] = &Section{
				Number: cat.Number, Name: cat.Name, Title: cat.Title, Planned: cat.Command,
				Expected: cat.Expected, Optional: cat.Optional, Result: NotRun,
			}
		}
	}
	for _, s := range bySection {
		e.Sections = append(e.Sections, *s)
	}
	slices.SortFunc(e.Sections, func(a, b Section) int {
		x, _ := strconv.Atoi(a.Number)
		y, _ := strconv.Atoi(b.Number)
		return x - y
	})
	// A deviation the plan declares applies to its section even when the test did not repeat it.
	for _, d := range e.Run.Plan.Deviations {
		for i := range e.Sections {
			if e.Sections[i].Number == d.Section && e.Sections[i].Deviation == "" {
				e.Sections[i].Deviation = d.Reason
			}
		}
	}
	return nil
}

// sectionNumber turns "4" or "04" into "04".
// statusOf is the JUnit status a result word goes with: PASS passed, FAIL and INTERRUPTED
// failed, SKIPPED and NA skipped.
func statusOf(result string) string {
	switch result {
	case artifacts.Interrupted:
		return artifacts.Fail
	case artifacts.NA:
		return artifacts.Skipped
	}
	return result
}

func sectionNumber(v string) (string, error) {
	v = strings.TrimSpace(v)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 999 {
		return "", fmt.Errorf("%q is not a section number", v)
	}
	return fmt.Sprintf("%02d", n), nil
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

// RefSuffix marks the record of a file too large to copy into SMOKE_OUT/artifacts.
const RefSuffix = ".sha256ref"

func (e *Evidence) readArtifacts() error {
	paths, err := listFiles(e.Dir, artifacts.CopiesDir)
	if err != nil {
		return err
	}
	byPath := map[string]*File{}
	var order []string
	for _, rel := range paths {
		full := filepath.Join(e.Dir, filepath.FromSlash(rel))
		f := File{Path: rel, Size: -1}
		if strings.HasSuffix(rel, RefSuffix) {
			f.Path = strings.TrimSuffix(rel, RefSuffix)
			if err := readRef(full, &f); err != nil {
				return err
			}
		} else {
			if err := hashFile(full, &f); err != nil {
				return err
			}
		}
		byPath[f.Path] = &f
		order = append(order, f.Path)
	}
	for _, s := range e.Sections {
		for _, a := range s.Artifacts {
			a = path.Clean(a)
			f, ok := byPath[a]
			if !ok {
				if _, ok := byPath[a+RefSuffix]; ok {
					continue
				}
				f = &File{Path: a, Size: -1, Missing: true}
				byPath[a] = f
				order = append(order, a)
			}
			if !slices.Contains(f.By, s.Slug()) {
				f.By = append(f.By, s.Slug())
			}
		}
	}
	slices.Sort(order)
	for _, p := range slices.Compact(order) {
		e.Files = append(e.Files, *byPath[p])
	}
	return nil
}

func hashFile(p string, f *File) error {
	r, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	f.Size, f.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	return nil
}

var sumLineRE = regexp.MustCompile(`^([0-9a-fA-F]{64})\s+\*?(.+)$`)

// readRef reads a *.sha256ref record: a JSON object {"sha256", "size", "path"}, or lines of
// "key: value" / "key=value" (sha256, size or bytes, path or source), or a sha256sum line
// "<hex>  <path>".
func readRef(p string, f *File) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var ref struct {
			SHA256 string `json:"sha256"`
			Size   *int64 `json:"size"`
			Path   string `json:"path"`
			Source string `json:"source"`
		}
		if err := decodeJSON(p, &ref); err != nil {
			return err
		}
		f.SHA256, f.Ref = ref.SHA256, ref.Path
		if f.Ref == "" {
			f.Ref = ref.Source
		}
		if ref.Size != nil {
			f.Size = *ref.Size
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if m := sumLineRE.FindStringSubmatch(line); m != nil {
				f.SHA256, f.Ref = m[1], m[2]
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if k2, v2, ok2 := strings.Cut(line, "="); ok2 && (!ok || len(k2) < len(k)) {
				k, v, ok = k2, v2, true
			}
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "sha256":
				f.SHA256 = v
			case "size", "bytes":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return fmt.Errorf("read %s: size: %q is not a number", p, v)
				}
				f.Size = n
			case "path", "source":
				f.Ref = v
			}
		}
	}
	if f.SHA256 == "" {
		return fmt.Errorf("read %s: sha256 is missing", p)
	}
	if _, err := hex.DecodeString(f.SHA256); err != nil || len(f.SHA256) != 64 {
		return fmt.Errorf("read %s: sha256: %q is not a SHA-256", p, f.SHA256)
	}
	f.SHA256 = strings.ToLower(f.SHA256)
	if f.Ref == "" {
		f.Ref = "(original path not recorded)"
	}
	return nil
}
