package checklist

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"

	junit "github.com/joshdk/go-junit"
)

// minimalJUnit is a junit.xml the loader accepts: its one testcase is not a section.
const minimalJUnit = `<testsuites><testsuite name="x"><testcase name="Test00Preflight"></testcase></testsuite></testsuites>`

// recordedFile is the content of a file of a recorded run.
func recordedFile(t testing.TB, run, rel string) string {
	t.Helper()
	return string(recorded.ReadFile(t, filepath.Join(recorded.Dir, run, filepath.FromSlash(rel))))
}

// evidenceDir writes files (name → content) into a fresh directory.
func evidenceDir(t testing.TB, files map[string]string) string {
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

func results(e *view.Evidence) []string {
	var out []string
	for _, s := range e.Sections {
		out = append(out, s.Section+" "+s.Result)
	}
	return out
}

// junitCaseRE is one <testcase> element of a junit.xml as gotestsum writes it, with its line.
var junitCaseRE = regexp.MustCompile(`(?s)\t\t<testcase [^>]*name="(\w+)".*?</testcase>\n`)

// The recorded junit.xml lists the failure first, then the skips, then the passes, as gotestsum
// writes it; the checklist orders the sections by number, each with what the suite recorded.
func TestLoadRecordedJUnitOrdersBySection(t *testing.T) {
	var order []string
	for _, m := range junitCaseRE.FindAllStringSubmatch(recordedFile(t, "fail", evidence.JUnitFile), -1) {
		order = append(order, m[1])
	}
	if want := []string{"Test04Train", "Test05Artifacts", "Test06Resume", "Test07AMPFP16", "Test08AMPBF16",
		"Test00Preflight", "Test01Install", "Test02Dataset", "Test03Validate"}; !slices.Equal(order, want) {
		t.Fatalf("the recorded junit.xml lists %q, want gotestsum's order %q", order, want)
	}
	e, err := view.Load(filepath.Join(recorded.Dir, "fail"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00 PASS", "01 PASS", "02 PASS", "03 PASS", "04 FAIL", "05 SKIPPED", "06 SKIPPED", "07 SKIPPED", "08 SKIPPED"}
	if got := results(e); !slices.Equal(got, want) {
		t.Errorf("sections %q, want %q", got, want)
	}
	s := e.Sections[4]
	if s.Test != "Test04Train" || s.Name != "train" || s.Title != "Smoke training (2 steps)" || s.ExitCode == nil || *s.ExitCode != 1 ||
		s.Log != "logs/04-train.log" || s.Reason != "04-train: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL)" ||
		!slices.Equal(s.Artifacts, []string{evidence.ReproFile}) {
		t.Errorf("04: %+v", s)
	}
	if s := e.Sections[6]; s.Reason != "blocked by 04-train" || s.Test != "Test06Resume" || !s.Optional {
		t.Errorf("06: %+v", s)
	}
	if e.Verdict() != evidence.Fail {
		t.Errorf("verdict %s", e.Verdict())
	}
}

// The recorded junit.xml is valid JUnit for other readers: go-junit sees the statuses gotestsum
// wrote. (go-junit v1.0.0 does not read a testcase's <properties>; Load does.)
func TestRecordedJUnitParsesWithGoJUnit(t *testing.T) {
	suites, err := junit.IngestFile(filepath.Join(recorded.Dir, "fail", evidence.JUnitFile))
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
		"Test00Preflight": junit.StatusPassed, "Test03Validate": junit.StatusPassed,
		"Test04Train": junit.StatusFailed, "Test05Artifacts": junit.StatusSkipped, "Test08AMPBF16": junit.StatusSkipped,
	}
	for name, st := range want {
		if status[name] != st {
			t.Errorf("%s: status %q, want %q", name, status[name], st)
		}
	}
	if s.Totals.Tests != 9 || s.Totals.Failed != 1 || s.Totals.Skipped != 4 || s.Totals.Passed != 4 {
		t.Errorf("totals %+v", s.Totals)
	}
	if s.Properties["go.version"] == "" {
		t.Errorf("suite properties %v lack go.version", s.Properties)
	}
	for _, tc := range s.Tests {
		if tc.Name == "Test04Train" && (tc.Error == nil || !strings.Contains(tc.Error.Error(), "RuntimeError: injected failure (FIXTURE_FAIL)")) {
			t.Errorf("Test04Train error %v", tc.Error)
		}
	}
}

// A TestMain failure (gotestsum's real junit.xml for it: testdata/input/junit-testmain.xml)
// beside a run.json whose sections never ran: every section is NOT RUN, the verdict FAIL, and
// both documents say the suite failed.
func TestTestMainFailure(t *testing.T) {
	dir := evidenceDir(t, map[string]string{
		evidence.RunFile:   recordedFile(t, "run-alone", evidence.RunFile),
		evidence.JUnitFile: string(recorded.ReadFile(t, filepath.Join("testdata", "input", "junit-testmain.xml"))),
	})
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(e, view.Options{Now: recorded.RenderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != evidence.Fail {
		t.Errorf("verdict %s, want FAIL", res.Verdict)
	}
	if got := results(e); !slices.Equal(got, []string{"00 NOT RUN", "01 NOT RUN", "02 NOT RUN", "03 NOT RUN", "04 NOT RUN",
		"05 NOT RUN", "06 NOT RUN", "07 NOT RUN", "08 NOT RUN"}) {
		t.Errorf("sections %q", got)
	}
	cl := string(recorded.ReadFile(t, filepath.Join(dir, evidence.ChecklistFile)))
	for _, want := range []string{
		"> **SUITE FAILED:** TestMain failed: smoke: create SMOKE_OUT /nonexistent/out: permission denied",
		"### TestMain",
	} {
		if !strings.Contains(cl, want) {
			t.Errorf("checklist lacks %q", want)
		}
	}
	if !regexp.MustCompile("(?m)^\\| 04 \\| train — Smoke training \\(2 steps\\) \\| `[^`]+` \\| [^|]+ \\| NOT RUN \\| — \\|").MatchString(cl) {
		t.Error("checklist lacks 04 NOT RUN with the plan's command")
	}
	rep := string(recorded.ReadFile(t, filepath.Join(dir, evidence.ReportFile)))
	if !strings.Contains(rep, "- TestMain: **FAIL** — smoke: create SMOKE_OUT /nonexistent/out: permission denied") {
		t.Errorf("report does not name the TestMain failure:\n%s", rep)
	}
	sum := summaryOf(e)
	if sum.FirstFailure == nil || sum.FirstFailure.ID != "TestMain" {
		t.Errorf("summary's first failure %+v, want TestMain", sum.FirstFailure)
	}
}

// A failed test that carries no section property (a helper test beside the sections) fails the
// run and is listed; a passing one is not a section and is left out.
func TestTestsWithoutSection(t *testing.T) {
	junitXML := strings.Replace(recordedFile(t, "pass", evidence.JUnitFile), "\t</testsuite>",
		"\t\t<testcase classname=\"x\" name=\"TestHelper\" time=\"0.1\"><failure message=\"Failed\" type=\"\">=== RUN   TestHelper\n    helper_test.go:3: boom\n--- FAIL: TestHelper (0.10s)\n</failure></testcase>\n"+
			"\t\t<testcase classname=\"x\" name=\"TestOther\" time=\"0.1\"></testcase>\n\t</testsuite>", 1)
	dir := evidenceDir(t, map[string]string{evidence.RunFile: recordedFile(t, "pass", evidence.RunFile), evidence.JUnitFile: junitXML})
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Others) != 1 || e.Others[0].Test != "TestHelper" || e.Others[0].Reason != "boom" {
		t.Errorf("others %+v, want the failed TestHelper", e.Others)
	}
	if e.Verdict() != evidence.Fail {
		t.Errorf("verdict %s, want FAIL", e.Verdict())
	}
	rep, _, _ := reportMD(e, view.Options{Now: recorded.RenderedAt})
	if !strings.Contains(string(rep), "- TestHelper: **FAIL** — boom\n") {
		t.Errorf("report does not list TestHelper:\n%s", rep)
	}
}

// TestLoadErrors breaks one thing in a recorded run at a time: each is refused with one line
// that names the file and the field. (The broken-input corpus, TestBadInputs, has more.)
func TestLoadErrors(t *testing.T) {
	type testCase struct {
		name string
		edit func(t *testing.T, dir string)
		want string // the error, with the directory as DIR
	}
	remove := func(rel string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, rel)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(rel, content string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	replace := func(rel, old, new string) func(*testing.T, string) {
		return func(t *testing.T, dir string) { replaceIn(t, filepath.Join(dir, filepath.FromSlash(rel)), old, new) }
	}
	// In fail's junit.xml, testcase 1 is Test04Train (FAIL) and testcase 2 Test05Artifacts (SKIPPED).
	const train = `<property name="name" value="train"></property>`
	for _, tc := range []testCase{
		{"no run.json", remove(evidence.RunFile), "read DIR/run.json: open DIR/run.json: no such file or directory"},
		{"run.json not JSON", write(evidence.RunFile, "{\n  \"started_utc\": oops\n}"), "read DIR/run.json: line 2: invalid character 'o'"},
		{"run.json wrong type", replace(evidence.RunFile, `"fixture": true`, `"fixture": "yes"`), "read DIR/run.json: field fixture: string is not bool"},
		{"run.json from schema_version 1", write(evidence.RunFile, `{"started_utc": "2026-03-02T09:00:00Z", "plan": {"name": "p"}}`),
			"read DIR/run.json: sections: none (run.json from a harness older than schema_version 2?)"},
		{"section result unknown", replace(evidence.RunFile, `"result": "FAIL"`, `"result": "FAILED"`),
			`read DIR/run.json: sections[4].result: "FAILED" is not one of PASS, FAIL, SKIPPED, INTERRUPTED, NA, NOT RUN`},
		{"section twice", replace(evidence.RunFile, `"section": "05"`, `"section": "4"`), "read DIR/run.json: sections[5]: section 04 is already sections[4]"},
		{"junit not XML", write(evidence.JUnitFile, "<testsuites><testsuite>"), "read DIR/junit.xml: XML syntax error on line 1: unexpected EOF"},
		{"junit wrong root", write(evidence.JUnitFile, "<html></html>"), "read DIR/junit.xml: root element is <html>, want <testsuites>"},
		{"junit result unknown", replace(evidence.JUnitFile, `<property name="result" value="FAIL">`, `<property name="result" value="MAYBE">`),
			`read DIR/junit.xml: testcase 1 (Test04Train): property result: "MAYBE" is not one of PASS, FAIL, SKIPPED, INTERRUPTED, NA, NOT RUN`},
		{"junit result and status disagree", replace(evidence.JUnitFile, `<property name="result" value="FAIL">`, `<property name="result" value="PASS">`),
			"read DIR/junit.xml: testcase 1 (Test04Train): property result is PASS, but JUnit records the testcase as failed"},
		{"junit section not in the plan", replace(evidence.JUnitFile, `<property name="section" value="04">`, `<property name="section" value="12">`),
			"read DIR/junit.xml: testcase 1 (Test04Train): section 12 is not one of the plan's in run.json"},
		{"junit name differs from the plan's", replace(evidence.JUnitFile, train, `<property name="name" value="training"></property>`),
			`read DIR/junit.xml: testcase 1 (Test04Train): section 04 is "training", but the plan in run.json names it "train"`},
		{"junit section twice", replace(evidence.JUnitFile, `<property name="section" value="05">`, `<property name="section" value="04">`),
			"read DIR/junit.xml: testcase 2 (Test05Artifacts): section 04 is already recorded by testcase 1"},
		{"warnings not a count", replace(evidence.JUnitFile, `<property name="warnings" value="0">`, `<property name="warnings" value="many">`),
			`read DIR/junit.xml: testcase 1 (Test04Train): property warnings: "many" is not a count`},
		{"exit code not a number", replace(evidence.JUnitFile, `<property name="exit_code" value="1">`, `<property name="exit_code" value="x">`),
			`read DIR/junit.xml: testcase 1 (Test04Train): property exit_code: "x" is not an integer`},
		{"duration not a number", replace(evidence.JUnitFile, `<property name="duration" value="`, `<property name="duration" value="1m`),
			`testcase 1 (Test04Train): property duration: "1m`},
		{"gpu_env.json wrong type", write(evidence.GPUEnvFile, `{"schema_version": 1, "nvml": {"gpus": "none"}}`), "read DIR/gpu_env.json"},
		{"sha256ref without sha", replace("artifacts/03-validate/env.json.sha256ref", "sha256: ", "sha: "),
			`read DIR/artifacts/03-validate/env.json.sha256ref: line 1: unknown key "sha"`},
		{"sha256ref bad size", replace("artifacts/03-validate/env.json.sha256ref", "size: ", "size: about "),
			`read DIR/artifacts/03-validate/env.json.sha256ref: size: "about `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := recorded.Copy(t, "fail")
			tc.edit(t, dir)
			_, err := view.Load(dir)
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
		})
	}
}

// A reference (<copy>.sha256ref, the one format evidence.WriteRef writes) stands for the copy
// it replaces; a broken one is refused with one line naming it and the field.
func TestSHA256Ref(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	const rel = "artifacts/04-train/checkpoint-2.pt"
	good := "sha256: " + sha + "\nsize: 1234\npath: /w/difftrain/_tmp_run/checkpoint-2.pt\nreason: larger than the 0-byte copy cap\n"
	load := func(t *testing.T, ref string) (*view.Evidence, string, error) {
		dir := evidenceDir(t, map[string]string{
			evidence.RunFile: recordedFile(t, "run-alone", evidence.RunFile), evidence.JUnitFile: minimalJUnit,
			rel + evidence.RefSuffix: ref,
		})
		e, err := view.Load(dir)
		return e, filepath.Join(dir, filepath.FromSlash(rel+evidence.RefSuffix)), err
	}
	e, _, err := load(t, good)
	if err != nil {
		t.Fatal(err)
	}
	want := view.File{Path: rel, Size: 1234, SHA256: sha, Ref: "/w/difftrain/_tmp_run/checkpoint-2.pt"}
	i := slices.IndexFunc(e.Files, func(f view.File) bool { return f.Path == rel })
	if i < 0 || e.Files[i].Size != want.Size || e.Files[i].SHA256 != want.SHA256 || e.Files[i].Ref != want.Ref || e.Files[i].Missing {
		t.Errorf("files %+v, want one %+v", e.Files, want)
	}
	for name, tc := range map[string]struct{ ref, want string }{
		"sha256 missing": {strings.Replace(good, "sha256: "+sha+"\n", "", 1), `sha256: "" is not a SHA-256`},
		"sha256 not hex": {strings.Replace(good, sha, "xyz", 1), `sha256: "xyz" is not a SHA-256`},
		"size missing":   {strings.Replace(good, "size: 1234\n", "", 1), "size is missing"},
		"size negative":  {strings.Replace(good, "size: 1234", "size: -1", 1), `size: "-1" is not a number of bytes`},
		"path missing":   {strings.Replace(good, "path: /w/difftrain/_tmp_run/checkpoint-2.pt\n", "", 1), "path is missing"},
		"unknown key":    {good + "owner: root\n", `line 5: unknown key "owner"`},
		"JSON":           {`{"sha256": "` + sha + `", "size": 1234}`, `line 1: unknown key "{\"sha256\""`},
		"sha256sum line": {sha + "  /w/difftrain/_tmp_run/checkpoint-2.pt\n", `line 1: want "key: value"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, file, err := load(t, tc.ref)
			if err == nil || strings.Contains(err.Error(), "\n") || err.Error() != "read "+file+": "+tc.want {
				t.Errorf("error %v\nwant read %s: %s", err, file, tc.want)
			}
		})
	}
}

// A file a section names but that is not in the evidence directory is listed as MISSING, by
// the section that names it; a reference stands for the copy it replaces.
func TestMissingArtifactIsListed(t *testing.T) {
	dir := recorded.Copy(t, "pass")
	if err := os.Remove(filepath.Join(dir, "artifacts", "04-train", "env.json")); err != nil {
		t.Fatal(err)
	}
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range e.Files {
		if strings.HasPrefix(f.Path, "artifacts/04-train/") {
			line := f.Path
			if f.Missing {
				line += " MISSING"
			}
			got = append(got, line+" by "+strings.Join(f.By, ","))
		}
	}
	want := []string{
		"artifacts/04-train/checkpoint-1.pt by 04-train", "artifacts/04-train/checkpoint-2.pt by 04-train",
		"artifacts/04-train/config.resolved.yaml by 04-train", "artifacts/04-train/env.json MISSING by 04-train",
		"artifacts/04-train/run_manifest.json by 04-train",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// With SMOKE_COPY_CAP_MB=0 every copy is a reference: none is missing.
	e, err = view.Load(filepath.Join(recorded.Dir, "fail"))
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, f := range e.Files {
		if f.Ref != "" {
			refs++
			if f.Missing || strings.HasSuffix(f.Path, evidence.RefSuffix) || len(f.SHA256) != 64 {
				t.Errorf("reference %+v", f)
			}
		}
	}
	if refs == 0 {
		t.Error("fail has no references (SMOKE_COPY_CAP_MB=0)")
	}
}

// A reference a section names but that is not in the evidence directory is listed as MISSING,
// as a missing copy is; it does not stop the rendering.
func TestMissingReferenceIsListed(t *testing.T) {

	dir := recorded.Copy(t, "fail")
	if err := os.Remove(filepath.Join(dir, "artifacts", "03-validate", "env.json.sha256ref")); err != nil {
		t.Fatal(err)
	}
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(e.Files, func(f view.File) bool { return strings.HasPrefix(f.Path, "artifacts/03-validate/env.json") })
	if i < 0 || !e.Files[i].Missing || !slices.Equal(e.Files[i].By, []string{"03-validate"}) {
		t.Errorf("files %+v: want artifacts/03-validate/env.json MISSING, checked by 03-validate", e.Files)
	}
}

// A violated guardrail, as the suite records it in run.json, fails the run in both documents
// and the summary, whichever file the results are read from.
func TestViolatedGuardrail(t *testing.T) {
	dir := recorded.Copy(t, "untracked")
	p := filepath.Join(dir, evidence.RunFile)
	var run map[string]any
	if err := json.Unmarshal(recorded.ReadFile(t, p), &run); err != nil {
		t.Fatal(err)
	}
	rule := ""
	for _, g := range run["guardrails"].([]any) {
		if g := g.(map[string]any); rule == "" && strings.HasPrefix(g["rule"].(string), "02-dataset ") {
			g["ok"], g["detail"], rule = false, "M configs/base.yaml", g["rule"].(string)
		}
	}
	if rule == "" {
		t.Fatal("the recorded run has no guardrail of 02-dataset")
	}
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, load := range []func(string) (*view.Evidence, error){view.Load, loadRunJSON} {
		e, err := load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Render(e, view.Options{Now: recorded.RenderedAt}); err != nil {
			t.Fatal(err)
		}
		if e.Verdict() != evidence.Fail || summaryOf(e).ExitCode != 1 {
			t.Errorf("%s: verdict %s", e.Source, e.Verdict())
		}
		for _, doc := range []string{evidence.ChecklistFile, evidence.ReportFile} {
			if b := recorded.ReadFile(t, filepath.Join(dir, doc)); !strings.Contains(string(b), "- [ ] "+rule+" — **VIOLATED**: M configs/base.yaml\n") {
				t.Errorf("%s (%s) does not show the violated guardrail", doc, e.Source)
			}
		}
	}
}
