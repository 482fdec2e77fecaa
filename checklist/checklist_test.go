package checklist

import (
	"github.com/difftrain/gpusmoke/evidence"
	"gotest.tools/v3/golden"

	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// renderedAt pins the "rendered at" time of every golden file.
var renderedAt = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// runsDir holds the evidence directories recorded from real runs of the suite on the fixture
// (go run ./checklist/testdata/record; testdata/README.md lists the cases).
var runsDir = filepath.Join("testdata", "runs")

// The templates the goldens fill: the fixture checkout's own (the real template's rows), and
// the two kinds FillTemplate recognises.
var templates = map[string]string{
	"fixture":  filepath.Join("..", "testdata", "difftrain", filepath.FromSlash(TemplateRel)),
	"upstream": filepath.Join("..", "testdata", "templates", "upstream.md"),
	"legacy":   filepath.Join("..", "testdata", "templates", "legacy.md"),
}

// renderOpts are the options every golden is rendered with: the time pinned, the Operator and
// Location rows given, the template named.
func renderOpts(template string) Options {
	return Options{Now: renderedAt, Operator: "A. Tester", Location: "Lab 3, rack 12", Template: templates[template]}
}

// recorded are the recorded cases, each with its verdict and the templates other than the
// fixture's own that its goldens fill.
var recorded = []struct {
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
	{"lanes-pass", evidence.Pass, []string{"upstream"}},
	{"lanes-failing-test", evidence.Fail, []string{"upstream"}},
	{"lanes-all-skipped", evidence.Fail, nil},
	{"lanes-collected-nothing", evidence.Fail, nil},
}

// copyRun copies testdata/runs/<name> into a temporary directory of the same name, since
// rendering writes into the evidence directory.
func copyRun(t testing.TB, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(runsDir, name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadCopy loads a fresh copy of a recorded run, from junit.xml (Load) or run.json (LoadRun).
// renderAt loads dir with load and renders its documents there, at renderedAt.
func renderAt(t testing.TB, dir string, load func(string) (*Evidence, error)) {
	t.Helper()
	e, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(e, Options{Now: renderedAt}); err != nil {
		t.Fatal(err)
	}
}

func loadCopy(t testing.TB, name string, load func(string) (*Evidence, error)) *Evidence {
	t.Helper()
	e, err := load(copyRun(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The recorder and the goldens cover the same cases: a case recorded without goldens, or
// goldens left for a case no longer recorded, is an error.
func TestRecordedCasesHaveGoldens(t *testing.T) {
	entries, err := os.ReadDir(runsDir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs, cases []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, c := range recorded {
		cases = append(cases, c.name)
	}
	slices.Sort(cases)
	if !slices.Equal(dirs, cases) {
		t.Errorf("testdata/runs holds %q; the goldens cover %q", dirs, cases)
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, g := range goldens {
		name := filepath.Base(g)
		if strings.HasPrefix(name, "bad-") || strings.HasPrefix(name, "fleet.") {
			continue
		}
		if c, _, _ := strings.Cut(name, "."); !slices.Contains(cases, c) {
			t.Errorf("%s: no recorded case %s", g, c)
		}
	}
}

// TestRecordedGoldens renders each recorded run as `make checklist` does (Load: the results
// from junit.xml) with the fixture checkout's own template, and compares checklist.md,
// report.md, summary.json and the filled template with testdata/<case>.<doc>.golden; some
// cases also fill the upstream and legacy templates (<case>.template-<kind>.golden). Then it
// renders the run as the suite itself does at its end (LoadRun: the results from run.json
// alone): every document must be byte-identical. Rewrite with go test ./checklist -update.
func TestRecordedGoldens(t *testing.T) {
	docs := []struct{ file, golden string }{
		{evidence.ChecklistFile, "checklist"},
		{evidence.ReportFile, "report"},
		{evidence.SummaryFile, "summary"},
		{evidence.TemplateFile, "template"},
	}
	for _, c := range recorded {
		t.Run(c.name, func(t *testing.T) {
			e := loadCopy(t, c.name, Load)
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
			if res.TemplateKind != KindUpstream || res.TemplateNote != "" {
				t.Errorf("the fixture's template: kind %q, note %q", res.TemplateKind, res.TemplateNote)
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
				b := readFile(t, filepath.Join(e.Dir, d.file))
				if d.file != evidence.SummaryFile {
					checkTables(t, d.file, string(b))
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

			// The suite's own rendering, from run.json, says the same.
			fromRun := loadCopy(t, c.name, LoadRun)
			if fromRun.Source != evidence.RunFile {
				t.Errorf("LoadRun read %s", fromRun.Source)
			}
			if _, err := Render(fromRun, renderOpts("fixture")); err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				a, b := readFile(t, filepath.Join(e.Dir, d.file)), readFile(t, filepath.Join(fromRun.Dir, d.file))
				if !bytes.Equal(a, b) {
					t.Errorf("%s from junit.xml and from run.json differ:\n%s", d.file, firstDiff(string(a), string(b)))
				}
			}

			for _, kind := range c.templates {
				e := loadCopy(t, c.name, Load)
				res, err := Render(e, renderOpts(kind))
				if err != nil {
					t.Fatal(err)
				}
				if res.TemplateKind != kind {
					t.Errorf("%s template filled as %q (note %q)", kind, res.TemplateKind, res.TemplateNote)
				}
				b := readFile(t, filepath.Join(e.Dir, evidence.TemplateFile))
				checkTables(t, kind, string(b))
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
	e := loadCopy(t, "fail", Load)
	summary := filepath.Join(t.TempDir(), "summary.md")
	res, err := Render(e, Options{Now: renderedAt, StepSummary: summary})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written[len(res.Written)-1] != summary {
		t.Errorf("written %q does not end with the step summary", res.Written)
	}
	if got, want := readFile(t, summary), readFile(t, filepath.Join(e.Dir, evidence.ReportFile)); string(got) != string(want) {
		t.Error("the step summary is not the report")
	}
}

// Without Options.Template the checkout's template is read from <difftrain_dir>/docs, and the
// filled copy goes to SMOKE_OUT; the checkout is never written.
func TestTemplateFromCheckoutIsNotModified(t *testing.T) {
	dir := copyRun(t, "fakegpu")
	checkout := filepath.Join(t.TempDir(), "difftrain")
	tmpl := filepath.Join(checkout, filepath.FromSlash(TemplateRel))
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		t.Fatal(err)
	}
	orig := readFile(t, templates["upstream"])
	if err := os.WriteFile(tmpl, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	setRunJSON(t, dir, `"difftrain_dir": "/runs/fakegpu/workspace/difftrain"`, `"difftrain_dir": "`+filepath.ToSlash(checkout)+`"`)
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(e, Options{Now: renderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.TemplateKind != KindUpstream {
		t.Fatalf("template kind %q, note %q", res.TemplateKind, res.TemplateNote)
	}
	if got := readFile(t, tmpl); string(got) != string(orig) {
		t.Error("Render changed the checkout's template")
	}
	driver := e.Env.NVML.DriverVersion
	if filled := readFile(t, filepath.Join(dir, evidence.TemplateFile)); driver == "" || !strings.Contains(string(filled), "| Driver version | "+driver+" |") {
		t.Errorf("the filled copy in SMOKE_OUT lacks the driver version %q", driver)
	}
}

// The recorded runs name a checkout that is gone (the fixture's workspace is not kept): the
// template is not filled, and the note names where it was looked for.
func TestRenderWithoutTemplate(t *testing.T) {
	e := loadCopy(t, "interrupted", Load)
	res, err := Render(e, Options{Now: renderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.TemplateKind != "" || res.TemplateNote != "no template at /runs/interrupted/workspace/difftrain/docs/mvp_smoke_checklist.md; not filled" {
		t.Errorf("kind %q, note %q: want no template and a note naming its path", res.TemplateKind, res.TemplateNote)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, evidence.TemplateFile)); err == nil {
		t.Error("wrote a template copy without a template")
	}
}

// Missing gpu_env.json and nvidia-smi.txt are not errors: they render as "not recorded", and
// the files preflight named are listed as MISSING.
func TestMissingEnvironmentIsNotRecorded(t *testing.T) {
	dir := copyRun(t, "fail")
	for _, f := range []string{evidence.GPUEnvFile, evidence.NvidiaSMIFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	renderAt(t, dir, Load)
	cl := string(readFile(t, filepath.Join(dir, evidence.ChecklistFile)))
	for _, want := range []string{
		"| GPU | not recorded (no gpu_env.json) |",
		"## nvidia-smi\n\nNot recorded.\n",
		"| `gpu_env.json` | — | — | MISSING; checked by 00-preflight |",
		"| `nvidia-smi.txt` | — | — | MISSING; checked by 00-preflight |",
	} {
		if !strings.Contains(cl, want) {
			t.Errorf("checklist lacks %q", want)
		}
	}
	rep := string(readFile(t, filepath.Join(dir, evidence.ReportFile)))
	if !strings.Contains(rep, "- Instance: not recorded\n") || !strings.Contains(rep, "- nvidia-smi: not recorded\n") {
		t.Errorf("report does not say the environment was not recorded:\n%s", rep)
	}
}

// No recorded run lists a file as MISSING: every file a section names is in the evidence
// directory, wherever it is (gpu_env.json and repro.sh at its top, copies under artifacts/).
func TestNoRecordedFileIsMissing(t *testing.T) {
	for _, c := range recorded {
		t.Run(c.name, func(t *testing.T) {
			e, err := Load(filepath.Join(runsDir, c.name))
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
				if i := slices.IndexFunc(e.Files, func(f File) bool { return f.Path == want }); i < 0 || !slices.Equal(e.Files[i].By, []string{"00-preflight"}) {
					t.Errorf("%s is not listed as checked by 00-preflight", want)
				}
			}
			if e.Repro != slices.ContainsFunc(e.Files, func(f File) bool { return f.Path == evidence.ReproFile && len(f.By) > 0 }) {
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
	b := readFile(t, p)
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %s", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

var delimRowRE = regexp.MustCompile(`^\|( *:?-+:? *\|)+$`)

// checkTables fails when a table row of md has a different number of cells than its header,
// counting cells the way GitHub splits them.
func checkTables(t *testing.T, name, md string) {
	t.Helper()
	lines := strings.Split(md, "\n")
	fence := ""
	for i := 0; i < len(lines); i++ {
		if run := strings.TrimRight(lines[i], " "); strings.HasPrefix(run, "```") {
			ticks := run[:len(run)-len(strings.TrimLeft(run, "`"))]
			switch {
			case fence == "":
				fence = ticks
			case len(ticks) >= len(fence) && ticks == run:
				fence = ""
			}
			continue
		}
		if fence != "" || i+1 >= len(lines) || !delimRowRE.MatchString(lines[i+1]) {
			continue
		}
		want := countCells(lines[i])
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			if got := countCells(lines[j]); got != want {
				t.Errorf("%s line %d has %d cells, its table's header %d:\n%s", name, j+1, got, want, lines[j])
			}
			i = j
		}
	}
}

// Rendered from run.json alone, as the suite renders at the end of a plain `go test ./smoke`
// (no gotestsum around it, so no junit.xml is ever written), the sections a run did not reach
// are NOT RUN with no word of junit.xml: the rendering never read one.
func TestNotRunSectionsFromRunJSON(t *testing.T) {

	dir := copyRun(t, "run-alone")
	if err := os.Remove(filepath.Join(dir, evidence.JUnitFile)); err != nil {
		t.Fatal(err)
	}
	e, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(e, renderOpts("fixture")); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{evidence.ChecklistFile, evidence.TemplateFile} {
		for _, line := range strings.Split(string(readFile(t, filepath.Join(dir, doc))), "\n") {
			if strings.Contains(line, NotRun) && strings.Contains(line, evidence.JUnitFile) {
				t.Errorf("%s: %s", doc, line)
			}
		}
	}
}

// The INTERRUPTED banner says what became of the sections after the interrupted one as the
// table shows them: in a real interrupted run the suite records them SKIPPED, "blocked by
// 04-train", not NOT RUN.
func TestInterruptedBannerMatchesTheSections(t *testing.T) {

	e := loadCopy(t, "interrupted", Load)
	if _, err := Render(e, renderOpts("fixture")); err != nil {
		t.Fatal(err)
	}
	after := false
	var skipped []string
	for _, s := range e.Sections {
		if after && s.Result != NotRun {
			skipped = append(skipped, s.Slug()+" "+s.Result)
		}
		after = after || s.Result == evidence.Interrupted
	}
	for _, doc := range []string{evidence.ChecklistFile, evidence.ReportFile, evidence.TemplateFile} {
		text := string(readFile(t, filepath.Join(e.Dir, doc)))
		if strings.Contains(text, "sections it did not reach are NOT RUN") && len(skipped) > 0 {
			t.Errorf("%s says the sections it did not reach are NOT RUN; they are %s", doc, strings.Join(skipped, ", "))
		}
	}
}

// The NaN finding names the log as code, as the warnings finding does: the log reference is
// not escaped a second time into literal backticks.
func TestNaNFindingNamesTheLog(t *testing.T) {

	e := loadCopy(t, "nan", Load)
	if _, err := Render(e, renderOpts("upstream")); err != nil {
		t.Fatal(err)
	}
	cl := string(readFile(t, filepath.Join(e.Dir, evidence.ChecklistFile)))
	if want := "- NaNs: 04-train: 2 log lines with a NaN or Inf loss (`logs/04-train.log`)\n"; !strings.Contains(cl, want) {
		t.Errorf("checklist lacks %q", want)
	}
	for _, doc := range []string{evidence.ChecklistFile, evidence.TemplateFile} {
		if text := string(readFile(t, filepath.Join(e.Dir, doc))); strings.Contains(text, "\\`") {
			t.Errorf("%s holds an escaped backtick", doc)
		}
	}
}

// The report's deviation for a section the plan skips says it was skipped, not that a command
// "(skipped)" ran.
func TestSkippedSectionDeviationWording(t *testing.T) {

	e := loadCopy(t, "plan-skip-amp", Load)
	if _, err := Render(e, renderOpts("fixture")); err != nil {
		t.Fatal(err)
	}
	rep := string(readFile(t, filepath.Join(e.Dir, evidence.ReportFile)))
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
	for _, load := range []func(string) (*Evidence, error){Load, LoadRun} {
		dir := copyRun(t, "pass")
		setRunJSON(t, dir, `"`+note+`"`, `"`+edited+`"`)
		replaceIn(t, filepath.Join(dir, evidence.JUnitFile), `&#34;`+note+`&#34;`, `&#34;`+edited+`&#34;`)
		e, err := load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Render(e, renderOpts("fixture")); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(readFile(t, filepath.Join(dir, evidence.ChecklistFile))))
	}
	if docs[0] != docs[1] {
		t.Errorf("checklist.md from junit.xml and from run.json differ:\n%s", firstDiff(docs[0], docs[1]))
	}
}
