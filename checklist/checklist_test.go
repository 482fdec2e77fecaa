package checklist

import (
	"github.com/difftrain/gpusmoke/evidence"
	"gotest.tools/v3/golden"

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

// copyRun copies testdata/runs/<name> into a temporary directory, since Render writes into
// the evidence directory.
func copyRun(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "runs", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRender(t *testing.T) {
	type testCase struct {
		run      string
		template string // under ../testdata/templates; empty: the run's own difftrain_dir
		operator string
		verdict  string
		kind     string // template kind filled; empty: not filled
	}
	run := func(t *testing.T, tc testCase) {
		dir := copyRun(t, tc.run)
		opts := Options{Now: renderedAt, Operator: tc.operator}
		if tc.template != "" {
			opts.Template = filepath.Join("..", "testdata", "templates", tc.template)
		}
		res, err := Render(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tc.verdict {
			t.Errorf("verdict %s, want %s", res.Verdict, tc.verdict)
		}
		if res.TemplateKind != tc.kind {
			t.Errorf("template kind %q, want %q (note: %s)", res.TemplateKind, tc.kind, res.TemplateNote)
		}
		want := []string{filepath.Join(dir, evidence.ChecklistFile), filepath.Join(dir, evidence.ReportFile)}
		if tc.kind != "" {
			want = append(want, filepath.Join(dir, evidence.TemplateFile))
		}
		if !slices.Equal(res.Written, want) {
			t.Errorf("written %q, want %q", res.Written, want)
		}
		for _, w := range res.Written {
			b := readFile(t, w)
			checkTables(t, filepath.Base(w), string(b))
			name := tc.run + "." + strings.TrimSuffix(filepath.Base(w), ".md")
			if filepath.Base(w) == evidence.TemplateFile {
				name = tc.run + ".template-" + tc.kind
			}
			golden.Assert(t, string(b), name+".golden")
		}
	}
	for _, tc := range []testCase{
		{run: "pass", template: "legacy.md", operator: "A. Tester", verdict: "PASS", kind: KindLegacy},
		{run: "fail-blocked", template: "upstream.md", verdict: "FAIL", kind: KindUpstream},
		{run: "deviations", template: "upstream.md", verdict: "FAIL", kind: KindUpstream},
		{run: "interrupted", verdict: "INTERRUPTED"},
	} {
		t.Run(tc.run, func(t *testing.T) { run(t, tc) })
	}
}

func TestMatrix(t *testing.T) {
	var b strings.Builder
	dirs := []string{filepath.Join("testdata", "runs", "pass"), filepath.Join("testdata", "runs", "fail-blocked")}
	if err := Matrix(&b, dirs); err != nil {
		t.Fatal(err)
	}
	checkTables(t, "matrix", b.String())
	golden.Assert(t, b.String(), "matrix.golden")
}

func TestMatrixBadDir(t *testing.T) {
	var b strings.Builder
	err := Matrix(&b, []string{filepath.Join("testdata", "runs", "pass"), filepath.Join("testdata", "runs", "nope")})
	if err == nil || !strings.Contains(err.Error(), filepath.Join("testdata", "runs", "nope", "run.json")) {
		t.Fatalf("err = %v, want one naming nope/run.json", err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %d bytes before failing", b.Len())
	}
}

func TestWriteMatrixAppendsStepSummary(t *testing.T) {
	tmp := t.TempDir()
	out, summary := filepath.Join(tmp, "m.md"), filepath.Join(tmp, "summary.md")
	if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	written, err := WriteMatrix(out, []string{filepath.Join("testdata", "runs", "pass"), filepath.Join("testdata", "runs", "deviations")}, Options{StepSummary: summary})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(written, []string{out, summary}) {
		t.Errorf("written %q", written)
	}
	got := string(readFile(t, summary))
	if !strings.HasPrefix(got, "earlier step\n\n# difftrain smoke matrix: 2 instances") {
		t.Errorf("summary does not keep the earlier content and then the matrix:\n%s", got)
	}
	if got[len("earlier step\n\n"):] != string(readFile(t, out)) {
		t.Error("summary's copy differs from the matrix file")
	}
}

func TestRenderAppendsReportToStepSummary(t *testing.T) {
	dir := copyRun(t, "fail-blocked")
	summary := filepath.Join(t.TempDir(), "summary.md")
	res, err := Render(dir, Options{Now: renderedAt, StepSummary: summary})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written[len(res.Written)-1] != summary {
		t.Errorf("written %q does not end with the step summary", res.Written)
	}
	if got, want := readFile(t, summary), readFile(t, filepath.Join(dir, evidence.ReportFile)); string(got) != string(want) {
		t.Error("the step summary is not the report")
	}
}

// The checkout's template is read from <difftrain_dir>/docs and the filled copy goes to
// SMOKE_OUT; the checkout is never written.
func TestTemplateFromCheckoutIsNotModified(t *testing.T) {
	dir := copyRun(t, "fail-blocked")
	checkout := filepath.Join(t.TempDir(), "difftrain")
	tmpl := filepath.Join(checkout, filepath.FromSlash(TemplateRel))
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		t.Fatal(err)
	}
	orig := readFile(t, filepath.Join("..", "testdata", "templates", "upstream.md"))
	if err := os.WriteFile(tmpl, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	setRunJSON(t, dir, `"/home/ubuntu/work/difftrain"`, `"`+filepath.ToSlash(checkout)+`"`)
	res, err := Render(dir, Options{Now: renderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.TemplateKind != KindUpstream {
		t.Fatalf("template kind %q, note %q", res.TemplateKind, res.TemplateNote)
	}
	if got := readFile(t, tmpl); string(got) != string(orig) {
		t.Error("Render changed the checkout's template")
	}
	if filled := readFile(t, filepath.Join(dir, evidence.TemplateFile)); !strings.Contains(string(filled), "| Driver version | 535.161.08 |") {
		t.Error("the filled copy in SMOKE_OUT lacks the driver version")
	}
}

func TestRenderWithoutTemplate(t *testing.T) {
	dir := copyRun(t, "interrupted")
	res, err := Render(dir, Options{Now: renderedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.TemplateKind != "" || !strings.Contains(res.TemplateNote, "/nonexistent/difftrain/docs/mvp_smoke_checklist.md") {
		t.Errorf("kind %q, note %q: want no template and a note naming its path", res.TemplateKind, res.TemplateNote)
	}
	if _, err := os.Stat(filepath.Join(dir, evidence.TemplateFile)); err == nil {
		t.Error("wrote a template copy without a template")
	}
}

// Missing gpu_env.json and nvidia-smi.txt are not errors: they render as "not recorded".
func TestMissingEnvironmentIsNotRecorded(t *testing.T) {
	dir := copyRun(t, "interrupted")
	if _, err := Render(dir, Options{Now: renderedAt}); err != nil {
		t.Fatal(err)
	}
	cl := string(readFile(t, filepath.Join(dir, evidence.ChecklistFile)))
	for _, want := range []string{"| GPU | not recorded (no gpu_env.json) |", "## nvidia-smi\n\nNot recorded.\n"} {
		if !strings.Contains(cl, want) {
			t.Errorf("checklist lacks %q", want)
		}
	}
	rep := string(readFile(t, filepath.Join(dir, evidence.ReportFile)))
	if !strings.Contains(rep, "- Instance: not recorded\n") || !strings.Contains(rep, "- nvidia-smi: not recorded\n") {
		t.Errorf("report does not say the environment was not recorded:\n%s", rep)
	}
}

// setRunJSON replaces old with new in dir/run.json.
func setRunJSON(t *testing.T, dir, old, new string) {
	t.Helper()
	p := filepath.Join(dir, evidence.RunFile)
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
