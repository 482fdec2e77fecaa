package checklist

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"

	junit "github.com/joshdk/go-junit"
)

// minimalRun is a run.json with only what Load requires.
const minimalRun = `{"started_utc": "2026-03-02T09:00:00Z", "out": "/out", "plan": {"name": "p", "deviations": []}, "guardrails": []}`

// evidenceDir writes files (name → content) into a fresh directory.
func evidenceDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func results(e *Evidence) []string {
	var out []string
	for _, s := range e.Sections {
		out = append(out, s.Number+" "+s.Result)
	}
	return out
}

// The recorded junit.xml (testdata/input, written by gotestsum) lists the failure first, then
// the skips, then the passes; the checklist orders by section number and fills the gaps.
func TestLoadRecordedJUnitOrdersBySection(t *testing.T) {
	dir := evidenceDir(t, map[string]string{
		"run.json":  minimalRun,
		"junit.xml": string(readFile(t, filepath.Join("testdata", "input", "junit.xml"))),
	})
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00 PASS", "01 NOT RUN", "02 PASS", "03 NOT RUN", "04 FAIL", "05 SKIPPED", "06 SKIPPED", "07 NOT RUN", "08 NOT RUN"}
	if got := results(e); !slices.Equal(got, want) {
		t.Errorf("sections %q, want %q", got, want)
	}
	byNum := map[string]Section{}
	for _, s := range e.Sections {
		byNum[s.Number] = s
	}
	if s := byNum["06"]; s.Reason != "blocked by 04-train" || s.Name != "resume" {
		t.Errorf("06: reason %q, name %q: want the skip message's reason and the catalog's name", s.Reason, s.Name)
	}
	if s := byNum["04"]; s.Peaks != (Peaks{"1532", "37", "51", "118.4"}) || s.Warnings != 2 || s.ExitCode != "1" || s.Log != "logs/04-train.log" {
		t.Errorf("04: %+v", s)
	}
	if s := byNum["00"]; s.Notes != "GPU 0: NVIDIA GeForce RTX 4090 <24 GiB> | cc 8.9" {
		t.Errorf("00 notes %q", s.Notes)
	}
	if e.Verdict() != evidence.Fail {
		t.Errorf("verdict %s", e.Verdict())
	}
}

// The same recorded file is valid JUnit for other readers: go-junit sees the statuses
// gotestsum wrote. (go-junit v1.0.0 does not read a testcase's <properties>; Load does.)
func TestRecordedJUnitParsesWithGoJUnit(t *testing.T) {
	suites, err := junit.IngestFile(filepath.Join("testdata", "input", "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 1 {
		t.Fatalf("%d suites, want 1", len(suites))
	}
	s := suites[0]
	status := map[string]junit.Status{}
	for _, tc := range s.Tests {
		status[tc.Name] = tc.Status
	}
	want := map[string]junit.Status{
		"Test00Preflight": junit.StatusPassed, "Test02Dataset": junit.StatusPassed,
		"Test04Train": junit.StatusFailed, "Test05Artifacts": junit.StatusSkipped, "Test06Resume": junit.StatusSkipped,
	}
	for name, st := range want {
		if status[name] != st {
			t.Errorf("%s: status %q, want %q", name, status[name], st)
		}
	}
	if s.Totals.Tests != 5 || s.Totals.Failed != 1 || s.Totals.Skipped != 2 || s.Totals.Passed != 2 {
		t.Errorf("totals %+v", s.Totals)
	}
	if s.Properties["go.version"] == "" {
		t.Errorf("suite properties %v lack go.version", s.Properties)
	}
	for _, tc := range s.Tests {
		if tc.Name == "Test04Train" && (tc.Error == nil || !strings.Contains(tc.Error.Error(), "exit status 1: ImportError")) {
			t.Errorf("Test04Train error %v", tc.Error)
		}
	}
}

// A TestMain failure (recorded: testdata/input/junit-testmain.xml) fails the run before any
// section: every section is NOT RUN and both documents say the suite failed.
func TestTestMainFailure(t *testing.T) {
	dir := evidenceDir(t, map[string]string{
		"run.json":  minimalRun,
		"junit.xml": string(readFile(t, filepath.Join("testdata", "input", "junit-testmain.xml"))),
	})
	res, err := Render(dir, Options{Now: renderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != evidence.Fail {
		t.Errorf("verdict %s, want FAIL", res.Verdict)
	}
	cl := string(readFile(t, filepath.Join(dir, evidence.ChecklistFile)))
	for _, want := range []string{
		"> **SUITE FAILED:** TestMain failed: smoke: create SMOKE_OUT /nonexistent/out: permission denied",
		"| 04 | train — Smoke training (2 steps) | — |",
		"### TestMain",
	} {
		if !strings.Contains(cl, want) {
			t.Errorf("checklist lacks %q", want)
		}
	}
	rep := string(readFile(t, filepath.Join(dir, evidence.ReportFile)))
	if !strings.Contains(rep, "- suite: **FAIL** — TestMain: smoke: create SMOKE_OUT /nonexistent/out: permission denied") {
		t.Errorf("report does not name the TestMain failure:\n%s", rep)
	}
}

// Without section properties, the number comes from the test name.
func TestSectionFromTestName(t *testing.T) {
	dir := evidenceDir(t, map[string]string{
		"run.json": minimalRun,
		"junit.xml": `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="1" errors="0" time="1.0">
	<testsuite tests="2" failures="1" time="1.0" name="x" timestamp="">
		<testcase classname="x" name="Test04Train" time="3.250000"><failure message="Failed" type="">=== RUN   Test04Train
    smoke_test.go:9: exit status 1
--- FAIL: Test04Train (3.25s)
</failure></testcase>
		<testcase classname="x" name="Test04Train/sub" time="0.000000"><failure message="Failed" type=""></failure></testcase>
		<testcase classname="x" name="Test2Dataset" time="0.5"></testcase>
		<testcase classname="x" name="TestHelper" time="0.1"><failure message="Failed" type="">    helper_test.go:3: boom
</failure></testcase>
	</testsuite>
</testsuites>`,
	})
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00 NOT RUN", "01 NOT RUN", "02 PASS", "03 NOT RUN", "04 FAIL", "05 NOT RUN", "06 NOT RUN", "07 NOT RUN", "08 NOT RUN"}
	if got := results(e); !slices.Equal(got, want) {
		t.Errorf("sections %q, want %q", got, want)
	}
	s := e.Sections[4]
	if s.Reason != "exit status 1" || s.Duration != "3.2" || s.Name != "train" || !slices.Equal(s.Subtests, []string{"sub: FAIL"}) {
		t.Errorf("04: reason %q, duration %q, name %q, subtests %q", s.Reason, s.Duration, s.Name, s.Subtests)
	}
	if len(e.Others) != 1 || e.Others[0].Test != "TestHelper" || e.Others[0].Reason != "boom" {
		t.Errorf("others %+v, want the failed TestHelper", e.Others)
	}
}

func TestLoadErrors(t *testing.T) {
	junitWith := func(props string) string {
		return `<testsuites><testsuite name="x">
<testcase name="Test00Preflight"></testcase>
<testcase name="Test01Install"></testcase>
<testcase name="Test04Train"><properties>` + props + `</properties></testcase>
</testsuite></testsuites>`
	}
	type testCase struct {
		name  string
		files map[string]string
		want  string // the error after the directory
	}
	run := func(t *testing.T, tc testCase) {
		dir := evidenceDir(t, tc.files)
		_, err := Load(dir)
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("error spans lines: %q", msg)
		}
		if want := strings.ReplaceAll(tc.want, "DIR", dir); !strings.Contains(msg, want) {
			t.Errorf("error %q\nwant it to contain %q", msg, want)
		}
	}
	ok := map[string]string{"run.json": minimalRun, "junit.xml": junitWith("")}
	with := func(name, content string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		if content == "" {
			delete(m, name)
		} else {
			m[name] = content
		}
		return m
	}
	for _, tc := range []testCase{
		{"no run.json", with("run.json", ""), "read DIR/run.json: open DIR/run.json: no such file or directory"},
		{"run.json not JSON", with("run.json", "{\n  \"started_utc\": oops\n}"), "read DIR/run.json: line 2: invalid character 'o'"},
		{"run.json wrong type", with("run.json", `{"started_utc": "2026-03-02T09:00:00Z", "fixture": "yes"}`), "read DIR/run.json: field fixture: string is not bool"},
		{"started_utc missing", with("run.json", `{"fixture": true}`), "read DIR/run.json: started_utc is empty"},
		{"started_utc bad", with("run.json", `{"started_utc": "yesterday"}`), `read DIR/run.json: started_utc: "yesterday" is not RFC 3339`},
		{"deviation section bad", with("run.json", `{"started_utc": "2026-03-02T09:00:00Z", "plan": {"deviations": [{"section": "four"}]}}`), `read DIR/run.json: plan.deviations[0].section: "four" is not a section number`},
		{"no junit.xml", with("junit.xml", ""), "read DIR/junit.xml: open DIR/junit.xml: no such file or directory"},
		{"junit not XML", with("junit.xml", "<testsuites><testsuite>"), "read DIR/junit.xml: XML syntax error on line 1: unexpected EOF"},
		{"junit wrong root", with("junit.xml", "<html></html>"), "read DIR/junit.xml: root element is <html>, want <testsuites>"},
		{"result unknown", with("junit.xml", junitWith(`<property name="result" value="MAYBE"></property>`)), `read DIR/junit.xml: testcase 3 (Test04Train): property result: "MAYBE" is not one of PASS, FAIL, SKIPPED, INTERRUPTED, NA`},
		{"warnings not a count", with("junit.xml", junitWith(`<property name="warnings" value="many"></property>`)), `testcase 3 (Test04Train): property warnings: "many" is not a count`},
		{"exit code not a number", with("junit.xml", junitWith(`<property name="exit_code" value="x"></property>`)), `testcase 3 (Test04Train): property exit_code: "x" is not an integer`},
		{"duration not a number", with("junit.xml", junitWith(`<property name="duration" value="1m"></property>`)), `testcase 3 (Test04Train): property duration: "1m" is not a number of seconds`},
		{"peak not a number", with("junit.xml", junitWith(`<property name="peak_mem_mib" value="lots"></property>`)), `testcase 3 (Test04Train): property peak_mem_mib: "lots" is not a number`},
		{"section bad", with("junit.xml", junitWith(`<property name="section" value="x4"></property>`)), `testcase 3 (Test04Train): property section: "x4" is not a section number`},
		{"section twice", with("junit.xml", junitWith(`<property name="section" value="1"></property>`)), `testcase 3 (Test04Train): section 01 is already recorded by testcase 2`},
		{"gpu_env.json wrong type", with("gpu_env.json", `{"schema_version": 1, "nvml": {"gpus": "none"}}`), "read DIR/gpu_env.json"},
		{"sha256ref without sha", with("artifacts/_tmp_run/checkpoint-2.pt.sha256ref", "size: 12\n"), "read DIR/artifacts/_tmp_run/checkpoint-2.pt.sha256ref: sha256 is missing"},
		{"sha256ref bad sha", with("artifacts/_tmp_run/checkpoint-2.pt.sha256ref", `{"sha256": "xyz"}`), `read DIR/artifacts/_tmp_run/checkpoint-2.pt.sha256ref: sha256: "xyz" is not a SHA-256`},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestSHA256RefFormats(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	for name, content := range map[string]string{
		"json":      `{"sha256": "` + sha + `", "size": 1234, "path": "/w/difftrain/_tmp_run/checkpoint-2.pt"}`,
		"key:value": "sha256: " + sha + "\nsize: 1234\npath: /w/difftrain/_tmp_run/checkpoint-2.pt\n",
		"key=value": "sha256=" + sha + "\nbytes=1234\nsource=/w/difftrain/_tmp_run/checkpoint-2.pt\n",
		"sha256sum": strings.ToUpper(sha) + "  /w/difftrain/_tmp_run/checkpoint-2.pt\nsize: 1234\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := evidenceDir(t, map[string]string{
				"run.json": minimalRun, "junit.xml": "<testsuites></testsuites>",
				"artifacts/_tmp_run/checkpoint-2.pt.sha256ref": content,
			})
			e, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := File{Path: "artifacts/_tmp_run/checkpoint-2.pt", Size: 1234, SHA256: sha, Ref: "/w/difftrain/_tmp_run/checkpoint-2.pt"}
			if len(e.Files) != 1 || e.Files[0].Path != want.Path || e.Files[0].Size != want.Size || e.Files[0].SHA256 != want.SHA256 || e.Files[0].Ref != want.Ref {
				t.Errorf("files %+v, want [%+v]", e.Files, want)
			}
		})
	}
}

// A file a section names in its artifacts property but that is not in artifacts/ is listed
// as MISSING.
func TestMissingArtifactIsListed(t *testing.T) {
	dir := evidenceDir(t, map[string]string{
		"run.json": minimalRun,
		"junit.xml": `<testsuites><testsuite name="x"><testcase name="Test05Artifacts"><properties>
<property name="artifacts" value="artifacts/_tmp_run/env.json; artifacts/_tmp_run/run_manifest.json"></property>
</properties></testcase></testsuite></testsuites>`,
		"artifacts/_tmp_run/env.json": "{}\n",
	})
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range e.Files {
		b.WriteString(f.Path)
		if f.Missing {
			b.WriteString(" MISSING")
		}
		b.WriteString(" by " + strings.Join(f.By, ",") + "\n")
	}
	want := "artifacts/_tmp_run/env.json by 05-artifacts\nartifacts/_tmp_run/run_manifest.json MISSING by 05-artifacts\n"
	if b.String() != want {
		t.Errorf("files:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestVerdict(t *testing.T) {
	type testCase struct {
		name string
		e    Evidence
		want string
	}
	pass := func(n string, optional bool) Section {
		return Section{Number: n, Result: evidence.Pass, Optional: optional}
	}
	with := func(s Section, result string) Section { s.Result = result; return s }
	for _, tc := range []testCase{
		{"all pass", Evidence{Sections: []Section{pass("00", false), pass("01", true)}}, "PASS"},
		{"optional skipped", Evidence{Sections: []Section{pass("00", false), with(pass("01", true), evidence.Skipped)}}, "PASS"},
		{"required skipped", Evidence{Sections: []Section{with(pass("00", false), evidence.Skipped)}}, "INCOMPLETE"},
		{"not run", Evidence{Sections: []Section{pass("00", false), with(pass("01", true), NotRun)}}, "INCOMPLETE"},
		{"interrupted run", Evidence{Sections: []Section{pass("00", false)}, Run: evidence.RunInfo{Interrupted: "SIGTERM"}}, "INTERRUPTED"},
		{"fail beats interrupted", Evidence{Sections: []Section{with(pass("00", false), evidence.Fail), with(pass("01", true), evidence.Interrupted)}}, "FAIL"},
		{"testmain", Evidence{Sections: []Section{pass("00", false)}, TestMain: "boom"}, "FAIL"},
		{"guardrail violated", Evidence{Sections: []Section{pass("00", false)}, Run: evidence.RunInfo{Guardrails: []evidence.Guardrail{{Rule: "r", OK: false}}}}, "FAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Verdict(); got != tc.want {
				t.Errorf("Verdict() = %s, want %s", got, tc.want)
			}
		})
	}
}
