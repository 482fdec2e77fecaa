package template

import (
	"os"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/internal/mdtest"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
)

func TestNormalizeCommand(t *testing.T) {
	const want = `python -m pip install -e ./difftrain[text2image]`
	for _, in := range []string{
		"`python -m pip install -e \"./difftrain[text2image]\"`",
		"python3 -m pip install -e './difftrain[text2image]'",
		"/opt/venv/bin/python3.11  -m   pip install -e ./difftrain\\[text2image\\]",
		"$ python -m pip install -e \"./difftrain[text2image]\"",
		"PIP_NO_INPUT=1 python -m pip\tinstall -e ./difftrain[text2image]",
		"python -m pip install -e\n./difftrain[text2image]",
	} {
		if got := NormalizeCommand(in); got != want {
			t.Errorf("NormalizeCommand(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"pytest ./difftrain/tests -m \"not slow and not integration\" -v": `pytest ./difftrain/tests -m not slow and not integration -v`,
		"python3 -c 'a; \"b\"'":  `python -c a; "b"`,
		`python "unbalanced`:     `python "unbalanced`,
		"notpython script.py":    "notpython script.py",
		"/usr/bin/env python3 x": "/usr/bin/env python3 x",
	} {
		if got := NormalizeCommand(in); got != want {
			t.Errorf("NormalizeCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFillTemplateKinds(t *testing.T) {
	e := loadRun(t, "pass")
	for _, tc := range []struct{ name, tmpl, kind string }{
		{"upstream", "| Field | Value |\n| --- | --- |\n| Driver version | |\n", KindUpstream},
		{"upstream step table", "| Step | Command | Result | Notes |\n|---|---|---|---|\n| 1 | `python3 ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic` | | |\n", KindUpstream},
		{"legacy", "- Driver version:\n- [ ] `nvidia-smi`\n", KindLegacy},
		{"prose", "# Notes\n\nNothing to fill here.\n", "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, kind := FillTemplate([]byte(tc.tmpl), e, view.Options{Now: recorded.RenderedAt})
			if kind != tc.kind {
				t.Errorf("kind %q, want %q:\n%s", kind, tc.kind, out)
			}
		})
	}
}

func TestFillTemplateRows(t *testing.T) {
	e := loadRun(t, "fail")
	train := section(t, e, "04")
	driver := e.Env.NVML.DriverVersion
	if driver == "" {
		driver = view.NotRecorded
	}
	tmpl := strings.Join([]string{
		"| Step | Command | Expected | Result (PASS/FAIL/NA) | Notes |",
		"| --- | --- | --- | --- | --- |",
		"| train | `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run` | ok | | |",
		"| lane | `pytest ./difftrain/tests -v` | ok | | |",
		"| kept | `python ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic` | ok | FAIL | done by hand |",
		"| blocked | `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_bf16.yaml --output-dir ./difftrain/_tmp_run_bf16` | ok | PASS/FAIL | |",
		"",
		"```",
		"| Field | Value |",
		"| --- | --- |",
		"| Driver version | |",
		"```",
		"",
		"| Field | Value |",
		"| --- | --- |",
		"| Driver version | |",
		"| Favourite colour | |",
		"| Git commit | abc (by hand) |",
	}, "\r\n") + "\r\n"
	out, _ := FillTemplate([]byte(tmpl), e, view.Options{Now: recorded.RenderedAt})
	got := string(out)
	for _, want := range []string{
		// a step that ran: its result and notes
		"| train | `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run` | ok | FAIL | 04-train in " +
			train.Duration + " s; 04-train: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL) |",
		// a command no step ran: NA, not in this plan
		"| lane | `pytest ./difftrain/tests -v` | ok | NA | not in this plan (difftrain MVP smoke (bundled fixture, offline)): no section of it does this |",
		// what a person already wrote stays
		"| kept | `python ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic` | ok | FAIL | done by hand |",
		// a placeholder is blank; a skipped step matches the command the plan would have run
		"| ok | NA | 08-amp-bf16 SKIPPED; blocked by 04-train |",
		// inside a fence nothing changes
		"```\r\n| Field | Value |\r\n| --- | --- |\r\n| Driver version | |\r\n```",
		"| Driver version | " + driver + " |",
		"| Favourite colour | |",
		"| Git commit | abc (by hand) |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("filled template lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\n") {
		t.Error("CRLF line endings were not kept")
	}
	mdtest.CheckTables(t, "filled", strings.ReplaceAll(got, "\r\n", "\n"))
}

// The fixture checkout's own template (testdata/difftrain, with the real template's rows) fills
// from every recorded run: every step row with a command gets a result
// (TestTemplateEveryRowSaysWhatRan says which), and no table changes shape.
func TestFillFixtureCheckoutTemplate(t *testing.T) {
	p := templates["fixture"]
	tmpl, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := os.ReadDir(recorded.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		t.Run(run.Name(), func(t *testing.T) {
			e := loadRun(t, run.Name())
			out, kind := FillTemplate(tmpl, e, view.Options{Now: recorded.RenderedAt})
			if kind != KindUpstream {
				t.Errorf("kind %q, want %q", kind, KindUpstream)
			}
			mdtest.CheckTables(t, p, string(out))
			for _, r := range stepRows(string(out)) {
				if r.result == "" || r.notes == "" {
					t.Errorf("row left blank: %s", r.line)
				}
			}
			if !strings.Contains(string(out), "| Date | "+strings.Split(e.Run.StartedUTC, "T")[0]) {
				t.Error("Date row not filled")
			}
		})
	}
}

// In the legacy kind, a box a person ticked is theirs, as a filled table cell is; an open box
// for a step that ran gets the harness's result.
func TestFillTemplateKeepsTickedBoxes(t *testing.T) {
	e := loadRun(t, "fail")
	tmpl := "# Checklist\n\n- [X] lanes: `pytest ./difftrain/tests -v`\n" +
		"- [ ] train: `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run`\n"
	out, _ := FillTemplate([]byte(tmpl), e, view.Options{Now: recorded.RenderedAt})
	got := string(out)
	if !strings.Contains(got, "- [X] lanes: `pytest ./difftrain/tests -v`\n") {
		t.Errorf("a ticked box was changed:\n%s", got)
	}
	if !strings.Contains(got, "- [ ] train: `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run` — FAIL") {
		t.Errorf("the open box of a step that ran was not filled:\n%s", got)
	}
}

// The artifact rows of a template (the runbook's step 5: ./difftrain/_tmp_run/env.json, ...)
// name the copy of the file section 05 checked: the training run's, artifacts/04-train/. The
// validation run (03) wrote the same names into the same directory first, and training
// overwrote them; its copies in artifacts/03-validate/ are other files.
func TestTemplateArtifactRowsNameTheTrainingCopies(t *testing.T) {

	e := loadRun(t, "pass")
	out, kind := FillTemplate(recorded.ReadFile(t, templates["legacy"]), e, view.Options{Now: recorded.RenderedAt})
	if kind != KindLegacy {
		t.Fatalf("kind %q", kind)
	}
	for _, name := range []string{"env.json", "config.resolved.yaml", "run_manifest.json", "checkpoint-1.pt", "checkpoint-2.pt"} {
		var copied view.File
		for _, f := range e.Files {
			if f.Path == "artifacts/04-train/"+name {
				copied = f
			}
		}
		if copied.SHA256 == "" {
			t.Fatalf("the recorded pass run has no artifacts/04-train/%s", name)
		}
		want := "kept as artifacts/04-train/" + name + " (sha256 " + copied.SHA256[:12] + "…)"
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "`./difftrain/_tmp_run/"+name+"`") && !strings.Contains(line, want) {
				t.Errorf("the row of %s does not say %q:\n%s", name, want, line)
			}
		}
	}
}

// On a run where NVML saw no GPU (the fixture on a CPU machine: nvidia-smi.txt says
// nvidia-smi was not found), a template's nvidia-smi row ("GPU visible", "Save nvidia-smi
// output") cannot PASS: the GPU was not visible and there is no nvidia-smi output.
func TestTemplateNvidiaSMIRowWithoutGPU(t *testing.T) {

	for _, run := range []string{"pass", "fail"} {
		e := loadRun(t, run)
		if e.Env == nil || e.Env.NVML.Available {
			t.Fatalf("%s: NVML was available; the case needs a run without a GPU", run)
		}
		for _, tmpl := range []string{"upstream", "legacy"} {
			out, _ := FillTemplate(recorded.ReadFile(t, templates[tmpl]), e, view.Options{Now: recorded.RenderedAt})
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "`nvidia-smi`") && (strings.Contains(line, "| PASS |") || strings.Contains(line, "— PASS")) {
					t.Errorf("%s, %s template: %s", run, tmpl, line)
				}
			}
		}
	}
}

// A note repeated across template rows is written once, but a reason is never cut: the plan's
// reason for skipping the AMP sections holds "; ", and its second clause already appeared in
// the skip reason of the same row.
func TestTemplateKeepsReasonsWhole(t *testing.T) {

	e := loadRun(t, "plan-skip-amp")
	reason := section(t, e, "07").Deviation
	if !strings.Contains(reason, "; ") {
		t.Fatalf("the recorded reason %q holds no \"; \"", reason)
	}
	first, _, _ := strings.Cut(reason, "; ")
	for _, tmpl := range []string{"fixture", "upstream", "legacy"} {
		out, _ := FillTemplate(recorded.ReadFile(t, templates[tmpl]), e, view.Options{Now: recorded.RenderedAt})
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "deviation: "+first) && !strings.Contains(line, "deviation: "+reason) {
				t.Errorf("%s template: the deviation is cut:\n%s", tmpl, line)
			}
		}
	}
}
