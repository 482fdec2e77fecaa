package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/fleet"
	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/view"
)

// The inputs the figures are measured on are what they claim to be; no time is measured here.

func root(t *testing.T) string {
	t.Helper()
	r, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The junit figure's junit.xml has n testcases, and the renderer reads it as the recorded run
// with its retries refused: every section keeps its own result.
func TestWriteBigJUnit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root(t), recordedRun))); err != nil {
		t.Fatal(err)
	}
	want, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeBigJUnit(dir, 500); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, evidence.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("<testcase ")); n != 500 {
		t.Fatalf("%d testcases, want 500", n)
	}
	if !bytes.Contains(b, []byte(`tests="500"`)) {
		t.Error(`junit.xml does not say tests="500"`)
	}
	got, err := view.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got.Sections {
		if s.Result != want.Sections[i].Result || s.Reason != want.Sections[i].Reason {
			t.Errorf("section %s: %s (%s), want %s (%s)", s.Section, s.Result, s.Reason, want.Sections[i].Result, want.Sections[i].Reason)
		}
	}
	res, err := checklist.Render(got, view.Options{Now: renderedAt, Template: fixtureTemplate(root(t))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != evidence.Pass {
		t.Errorf("verdict %s, want PASS", res.Verdict)
	}
}

// The fleet figure's fleet: one directory per node, each with run.json; the failures, the
// interrupted runs and the missing summaries where writeFleet says.
func TestWriteFleet(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if err := renderedCopy(root(t), src); err != nil {
		t.Fatal(err)
	}
	job, runs, err := writeFleet(src, tmp, 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 200 {
		t.Fatalf("%d run.json files, want 200", len(runs))
	}
	instances, err := fleet.Dir(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fleet.Build(instances, tmp)
	// Every 10th failed (20), the 26th, 76th, 126th and 176th were interrupted, the 97th and
	// 194th have no summary.json.
	for verdict, n := range map[string]int{evidence.Fail: 20, evidence.Interrupted: 4, evidence.Pass: 174} {
		if f.Counts[verdict] != n {
			t.Errorf("%d %s, want %d (counts %v)", f.Counts[verdict], verdict, n, f.Counts)
		}
	}
	if len(f.Instances) != 200 {
		t.Errorf("%d instances, want 200", len(f.Instances))
	}
}

// The stream figure's child runs the step through the runner with a redacting log: every byte
// is logged, and a secret of the environment is not.
func TestStreamChild(t *testing.T) {
	const token = "hf_wholebenchTESTtoken0123456789abcdef"
	t.Setenv("HF_TOKEN", token)
	dir := t.TempDir()
	src := filepath.Join(dir, "stream.txt")
	if err := writeLogLines(src, 1<<20); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("login with " + token + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	logPath, resPath := filepath.Join(dir, "logs", "04-train.log"), filepath.Join(dir, "result.json")
	var stderr bytes.Buffer
	if code := streamChild([]string{"-log", logPath, "-result", resPath, "cat", src}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), token) || !strings.HasSuffix(string(log), "login with "+redact.Marker("HF_TOKEN")+"\n") {
		t.Errorf("the log does not end with the token redacted: %q", log[max(0, len(log)-80):])
	}
	if _, err := os.Stat(resPath); err != nil {
		t.Error(err)
	}
}

// The generated streams have exactly the size asked for.
func TestStreams(t *testing.T) {
	for name, write := range map[string]func(string, int64) error{"lines": writeLogLines, "base64": writeBase64} {
		for _, size := range []int64{0, 1, 1000, 1 << 20} {
			p := filepath.Join(t.TempDir(), name)
			if err := write(p, size); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != size {
				t.Errorf("%s of %d bytes: %d bytes", name, size, st.Size())
			}
		}
	}
}
