package checklist

import (
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/mdtest"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/template"
	"github.com/difftrain/gpusmoke/view"
	"gotest.tools/v3/golden"

	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The templates the goldens fill: the fixture checkout's own (the real template's rows), and
// the two kinds FillTemplate recognises.
var templates = map[string]string{
	"fixture":  filepath.Join("..", "testdata", "difftrain", filepath.FromSlash(template.Rel)),
	"upstream": filepath.Join("..", "testdata", "templates", "upstream.md"),
	"legacy":   filepath.Join("..", "testdata", "templates", "legacy.md"),
}

// renderOpts are the options every golden is rendered with: the time pinned, the Operator and
// Location rows given, the template named.
func renderOpts(template string) view.Options {
	return view.Options{Now: recorded.RenderedAt, Operator: "A. Tester", Location: "Lab 3, rack 12", Template: templates[template]}
}

// recordedCases are the recorded cases, each with its verdict and the templates other than the
// fixture's own that its goldens fill.
var recordedCases = []struct {
	name, verdict string
	templates     []string
}{
	{"pass", evidence.Pass, []string{"upstream", "legacy"}},
	{"fail", evidence.Fail, []string{"upstream", "legacy"}},
	{"nan", evidence.Fail, nil},
	{"missing-checkpoint", evidence.Fail, nil},
	{"untracked", evidence.Pass, nil},
	{"tracked-change", evidence.Fail, nil},
	{"bf16-fallback", evidence.Fail, []string{"upstream"}},
	{"crash-oom", evidence.Fail, nil},
	{"interrupted", evidence.Interrupted, nil},
	{"fakegpu", evidence.Pass, []string{"upstream", "legacy"}},
	{"preflight-ecc", evidence.Fail, nil},
	{"preflight-mismatch", evidence.Fail, nil},
	{"run-alone", evidence.Incomplete, nil},
	{"retry-refused", evidence.Incomplete, nil},
	{"plan-skip-amp", evidence.Pass, []string{"upstream"}},
	{"conformance", evidence.Pass, nil},
	{"lanes-pass", evidence.Pass, []string{"upstream"}},
	{"lanes-failing-test", evidence.Fail, []string{"upstream"}},
	{"lanes-all-skipped", evidence.Fail, nil},
	{"lanes-collected-nothing", evidence.Fail, nil},
	{"node", evidence.Fail, nil},
}

// renderAt loads dir and renders its documents there, at recorded.RenderedAt.
func renderAt(t testing.TB, dir string) {
	t.Helper()
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(e, view.Options{Now: recorded.RenderedAt}); err != nil {
		t.Fatal(err)
	}
}

// renderInto copies the recorded run name to dir and renders it there, at recorded.RenderedAt.
func renderInto(t testing.TB, name, dir string) {
	t.Helper()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(recorded.Dir, name))); err != nil {
		t.Fatal(err)
	}
	renderAt(t, dir)
}

// loadCopy loads a fresh copy of a recorded run.
func loadCopy(t testing.TB, name string) *view.Evidence {
	t.Helper()
	e, err := view.Load(recorded.Copy(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// loadRunJSON loads dir as a plain go test leaves it, with no junit.xml: the results from run.json.
func loadRunJSON(dir string) (*view.Evidence, error) {
	if err := os.Remove(filepath.Join(dir, evidence.JUnitFile)); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return view.Load(dir)
}

// The recorder and the goldens cover the same cases: a case recorded without goldens, or
// goldens left for a case no longer recorded, is an error.
func TestRecordedCasesHaveGoldens(t *testing.T) {
	entries, err := os.ReadDir(recorded.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs, cases []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, c := range recordedCases {
		cases = append(cases, c.name)
	}
	slices.Sort(cases)
	if !slices.Equal(dirs, cases) {
		t.Errorf("testdata/runs holds %q; the goldens cover %q", dirs, cases)
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, g := range goldens {
		name := filepath.Base(g)
		if strings.HasPrefix(name, "bad-") {
			continue
		}
		if c, _, _ := strings.Cut(name, "."); !slices.Contains(cases, c) {
			t.Errorf("%s: no recorded case %s", g, c)
		}
	}
}

// TestRecordedGoldens renders each recorded run as `make checklist` does (the results from
// junit.xml) with the fixture checkout's own template, and compares checklist.md, report.md,
// summary.json and the filled template with testdata/<case>.<doc>.golden; some cases also fill
// the upstream and legacy templates (<case>.template-<kind>.golden). Rewrite with
// go test ./checklist -update.
func TestRecordedGoldens(t *testing.T) {
	docs := []struct{ file, golden string }{
		{evidence.ChecklistFile, "checklist"},
		{evidence.ReportFile, "report"},
		{evidence.SummaryFile, "summary"},
		{evidence.TemplateFile, "template"},
	}
	for _, c := range recordedCases {
		t.Run(c.name, func(t *testing.T) {
			e := loadCopy(t, c.name)
			if e.Source != evidence.JUnitFile {
				t.Errorf("Load read %s", e.Source)
			}
			res, err := Render(e, renderOpts("fixture"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.verdict {
				t.Errorf("verdict %s, want %s", res.Verdict, c.verdict)
			}
			if len(res.Notes) > 0 {
				t.Errorf("the fixture's template: %q", res.Notes)
			}
			var want []string
			for _, d := range docs {
				want = append(want, filepath.Join(e.Dir, d.file))
				if d.file == evidence.SummaryFile { // then smoke.prom, and telemetry.svg where telemetry.csv is
					want = append(want, filepath.Join(e.Dir, evidence.PromFile))
					if e.Telemetry {
						want = append(want, filepath.Join(e.Dir, evidence.TelemetrySVGFile))
					}
				}
			}
			if !slices.Equal(res.Written, want) {
				t.Errorf("written %q, want %q", res.Written, want)
			}
			for _, d := range docs {
				b := recorded.ReadFile(t, filepath.Join(e.Dir, d.file))
				if d.file != evidence.SummaryFile {
					mdtest.CheckTables(t, d.file, string(b))
				}
				golden.Assert(t, string(b), c.name+"."+d.golden+".golden")
			}
			sum, err := evidence.ReadSummary(e.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Verdict != c.verdict || sum.ExitCode != evidence.ExitCode(c.verdict) || len(sum.Sections) != len(e.Run.Sections) {
				t.Errorf("summary.json: verdict %s, exit code %d, %d sections", sum.Verdict, sum.ExitCode, len(sum.Sections))
			}

			for _, kind := range c.templates {
				e := loadCopy(t, c.name)
				res, err := Render(e, renderOpts(kind))
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Notes) > 0 {
					t.Errorf("%s template: %q", kind, res.Notes)
				}
				b := recorded.ReadFile(t, filepath.Join(e.Dir, evidence.TemplateFile))
				mdtest.CheckTables(t, kind, string(b))
				golden.Assert(t, string(b), c.name+".template-"+kind+".golden")
			}
		})
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return "(same lines)"
}

func TestRenderAppendsReportToStepSummary(t *testing.T) {
	e := loadCopy(t, "fail")
	summary := filepath.Join(t.TempDir(), "summary.md")
	res, err := Render(e, view.Options{Now: recorded.RenderedAt, StepSummary: summary})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written[len(res.Written)-1] != summary {
		t.Errorf("written %q does not end with the step summary", res.Written)
	}
	if got, want := recorded.ReadFile(t, summary), recorded.ReadFile(t, filepath.Join(e.Dir, evidence.ReportFile)); string(got) != string(want) {
		t.Error("the step summary is not the report")
	}
}

// Without Options.Template the checkout's template is read from <difftrain_dir>/docs, and the
// filled copy goes to SMOKE_OUT; the checkout is never written.
func TestTemplateFromCheckoutIsNotModified(t *testing.T) {
	dir := recorded.Copy(t, "fakegpu")
	checkout := filepath.Join(t.TempDir(), "difftrain")
	tmpl := filepath.Join(checkout, filepath.FromSlash(template.Rel))
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		t.Fatal(err)
	}
	orig := recorded.ReadFile(t, templates["upstream"])
	if err := os.WriteFile(tmpl, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	setRunJSON(t, dir, `"difftrain_dir": "/runs/fakegpu/workspace/difftrain"`, `"difftrain_dir": "`+filepath.ToSlash(checkout)+`"`)
	e, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(e, view.Options{Now: recorded.RenderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) > 0 {
		t.Fatalf("template: %q", res.Notes)
	}
	if got := recorded.ReadFile(t, tmpl); string(got) != string(orig) {
		t.Error("Render changed the checkout's template")
	}
	driver := e.Env.NVML.DriverVersion
	if filled := recorded.ReadFile(t, filepath.Join(dir, evidence.TemplateFile)); driver == "" || !strings.Contains(string(filled), "| Driver version | "+driver+" |") {
		t.Errorf("the filled copy in SMOKE_OUT lacks the driver version %q", driver)
	}
}

// The recorded runs name a checkout that is gone (the fixture's workspace is not kept): the
// template is not filled, and the note names where it was looked for.
func TestRenderWithoutTemplate(t *testing.T) {
	e := loadCopy(t, "interrupted")
	res, err := Render(e, view.Options{Now: recorded.RenderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"no template at /runs/interrupted/workspace/difftrain/docs/mvp_smoke_checklist.md; not filled"}; !slices.Equal(res.Notes, want) {
		t.Errorf("notes %q, want %q", res.Notes, want)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, evidence.TemplateFile)); err == nil {
		t.Error("wrote a template copy without a template")
	}
}

// Missing gpu_env.json and nvidia-smi.txt are not errors: they render as "not recorded", and
// the files preflight named are listed as MISSING.
func TestMissingEnvironmentIsNotRecorded(t *testing.T) {
	dir := recorded.Copy(t, "fail")
	for _, f := range []string{evidence.GPUEnvFile, evidence.NvidiaSMIFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	renderAt(t, dir)
	cl := string(recorded.ReadFile(t, filepath.Join(dir, evidence.ChecklistFile)))
	for _, want := range []string{
		"| GPU | not recorded (no gpu_env.json) |",
		"## nvidia-smi\n\nNot recorded.\n",
		"| `gpu_env.json` | — | — | MISSING; written by 00-preflight |",
		"| `nvidia-smi.txt` | — | — | MISSING; written by 00-preflight |",
	} {
		if !strings.Contains(cl, want) {
			t.Errorf("checklist lacks %q", want)
		}
	}
	rep := string(recorded.ReadFile(t, filepath.Join(dir, evidence.ReportFile)))
	if !strings.Contains(rep, "- Instance: not recorded\n") || !strings.Contains(rep, "- nvidia-smi: not recorded\n") {
		t.Errorf("report does not say the environment was not recorded:\n%s", rep)
	}
}

// No recorded run lists a file as MISSING: every file a section names is in the evidence
// directory, wherever it is (gpu_env.json and repro.sh at its top, copies under artifacts/).
func TestNoRecordedFileIsMissing(t *testing.T) {
	for _, c := range recordedCases {
		t.Run(c.name, func(t *testing.T) {
			e, err := view.Load(filepath.Join(recorded.Dir, c.name))
			if err != nil {
				t.Fatal(err)
			}
			named := 0
			for _, f := range e.Files {
				if f.Missing {
					t.Errorf("%s (checked by %s) is listed as MISSING", f.Path, strings.Join(f.By, ", "))
				}
				if len(f.By) > 0 {
					named++
				}
			}
			if named == 0 {
				t.Error("no section names a file")
			}
			for _, want := range []string{evidence.GPUEnvFile, evidence.NvidiaSMIFile} {
				if i := slices.IndexFunc(e.Files, func(f view.File) bool { return f.Path == want }); i < 0 || !slices.Equal(e.Files[i].By, []string{"00-preflight"}) {
					t.Errorf("%s is not listed as written by 00-preflight", want)
				}
			}
			if e.Repro != slices.ContainsFunc(e.Files, func(f view.File) bool { return f.Path == evidence.ReproFile && len(f.By) > 0 }) {
				t.Errorf("repro.sh: exists %v, but the files list it otherwise", e.Repro)
			}
		})
	}
}

// setRunJSON replaces old with new in dir/run.json.
func setRunJSON(t testing.TB, dir, old, new string) {
	t.Helper()
	replaceIn(t, filepath.Join(dir, evidence.RunFile), old, new)
}

// replaceIn replaces old with new, once, in the file p; old must be there.
func replaceIn(t testing.TB, p, old, new string) {
	t.Helper()
	b := recorded.ReadFile(t, p)
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %s", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Rendered from run.json alone, as the suite renders at the end of a plain `go test ./smoke`
// (no gotestsum around it, so no junit.xml is ever written), the sections a run did not reach
// are NOT RUN with no word of junit.xml: the rendering never read one.
func TestNotRunSectionsFromRunJSON(t *testing.T) {

	dir := recorded.Copy(t, "run-alone")
	if err := os.Remove(filepath.Join(dir, evidence.JUnitFile)); err != nil {
		t.Fatal(err)
	}
	e, err := loadRunJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(e, renderOpts("fixture")); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{evidence.ChecklistFile, evidence.TemplateFile} {
		for _, line := range strings.Split(string(recorded.ReadFile(t, filepath.Join(dir, doc))), "\n") {
			if strings.Contains(line, evidence.NotRun) && strings.Contains(line, evidence.JUnitFile) {
				t.Errorf("%s: %s", doc, line)
			}
		}
	}
}

// The INTERRUPTED banner says what became of the sections after the interrupted one as the
// table shows them: in a real interrupted run the suite records them SKIPPED, "blocked by
// 04-train", not NOT RUN.
func TestInterruptedBannerMatchesTheSections(t *testing.T) {

	e := loadCopy(t, "interrupted")
	if _, err := Render(e, renderOpts("fixture")); err != nil {
		t.Fatal(err)
	}
	after := false
	var skipped []string
	for _, s := range e.Sections {
		if after && s.Result != evidence.NotRun {
			skipped = append(skipped, s.ID()+" "+s.Result)
		}
		after = after || s.Result == evidence.Interrupted
	}
	for _, doc := range []string{evidence.ChecklistFile, evidence.ReportFile, evidence.TemplateFile} {
		text := string(recorded.ReadFile(t, filepath.Join(e.Dir, doc)))
		if strings.Contains(text, "sections it did not reach are NOT RUN") && len(skipped) > 0 {
			t.Errorf("%s says the sections it did not reach are NOT RUN; they are %s", doc, strings.Join(skipped, ", "))
		}
	}
}

// The NaN finding names the log as code, as the warnings finding does: the log reference is
// not escaped a second time into literal backticks.
func TestNaNFindingNamesTheLog(t *testing.T) {

	e := loadCopy(t, "nan")
	if _, err := Render(e, renderOpts("upstream")); err != nil {
		t.Fatal(err)
	}
	cl := string(recorded.ReadFile(t, filepath.Join(e.Dir, evidence.ChecklistFile)))
	if want := "- NaNs: 04-train: 2 log lines with a NaN or Inf loss (logs/04-train.log)\n"; !strings.Contains(cl, want) {
		t.Errorf("checklist lacks %q", want)
	}
	for _, doc := range []string{evidence.ChecklistFile, evidence.TemplateFile} {
		if text := string(recorded.ReadFile(t, filepath.Join(e.Dir, doc))); strings.Contains(text, "\\`") {
			t.Errorf("%s holds an escaped backtick", doc)
		}
	}
}

// The report's deviation for a section the plan skips says it was skipped, not that a command
// "(skipped)" ran.
func TestSkippedSectionDeviationWording(t *testing.T) {

	e := loadCopy(t, "plan-skip-amp")
	if _, err := Render(e, renderOpts("fixture")); err != nil {
		t.Fatal(err)
	}
	rep := string(recorded.ReadFile(t, filepath.Join(e.Dir, evidence.ReportFile)))
	for _, line := range strings.Split(rep, "\n") {
		if strings.Contains(line, "ran `(skipped)`") {
			t.Errorf("the report says a command (skipped) ran:\n%s", line)
		}
	}
	for _, id := range []string{"07-amp-fp16", "08-amp-bf16"} {
		if !strings.Contains(rep, "- "+id+": ") {
			t.Errorf("the report lists no deviation of %s", id)
		}
	}
}

// A note that holds a ";" (a log line quoted in it, say) renders the same from junit.xml as
// from run.json. The suite writes the same note to both; evidence.Section.Properties encodes
// the notes for junit.xml as a JSON list, so a ";" inside one survives.
func TestNoteWithSemicolonFromBothSources(t *testing.T) {
	const note = "4 PNGs of 64x64 and metadata.jsonl at data/smoke_text2image (= data.data_root)"
	const edited = "data.data_root=data/smoke_text2image;image_size=64"
	var docs []string
	for _, load := range []func(string) (*view.Evidence, error){view.Load, loadRunJSON} {
		dir := recorded.Copy(t, "pass")
		setRunJSON(t, dir, `"`+note+`"`, `"`+edited+`"`)
		replaceIn(t, filepath.Join(dir, evidence.JUnitFile), `&#34;`+note+`&#34;`, `&#34;`+edited+`&#34;`)
		e, err := load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Render(e, renderOpts("fixture")); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(recorded.ReadFile(t, filepath.Join(dir, evidence.ChecklistFile))))
	}
	if docs[0] != docs[1] {
		t.Errorf("checklist.md from junit.xml and from run.json differ:\n%s", firstDiff(docs[0], docs[1]))
	}
}
