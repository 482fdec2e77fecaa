package checklist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

func loadRun(t *testing.T, name string) *Evidence {
	t.Helper()
	e, err := Load(filepath.Join("testdata", "runs", name))
	if err != nil {
		t.Fatal(err)
	}
	return e
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
			out, kind := FillTemplate([]byte(tc.tmpl), e, Options{Now: renderedAt})
			if kind != tc.kind {
				t.Errorf("kind %q, want %q:\n%s", kind, tc.kind, out)
			}
		})
	}
}

func TestFillTemplateRows(t *testing.T) {
	e := loadRun(t, "fail-blocked")
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
	out, _ := FillTemplate([]byte(tmpl), e, Options{Now: renderedAt})
	got := string(out)
	for _, want := range []string{
		// a step that ran: its result and notes
		"| train | `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run` | ok | FAIL | 04-train in 12.4 s; exit status 1: OSError: We couldn't connect to 'https://huggingface.co' to load this file; 2 warnings |",
		// a command no step ran: blank result, a note
		"| lane | `pytest ./difftrain/tests -v` | ok | | not run by the harness |",
		// what a person already wrote stays
		"| kept | `python ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic` | ok | FAIL | done by hand |",
		// a placeholder is blank; a skipped step without a command of its own matches its planned one
		"| ok | NA | 08-amp-bf16 SKIPPED; blocked by 04-train |",
		// inside a fence nothing changes
		"```\r\n| Field | Value |\r\n| --- | --- |\r\n| Driver version | |\r\n```",
		"| Driver version | 535.161.08 |",
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
	checkTables(t, "filled", strings.ReplaceAll(got, "\r\n", "\n"))
}

// The fixture checkout's own template (testdata/difftrain, written with the contract) fills:
// every step row with a command gets a result or says why not, and no table changes shape.
func TestFillFixtureCheckoutTemplate(t *testing.T) {
	p := filepath.Join("..", "testdata", "difftrain", filepath.FromSlash(TemplateRel))
	tmpl, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("no fixture checkout template: %v", err)
	}
	for _, run := range []string{"pass", "fail-blocked", "deviations"} {
		t.Run(run, func(t *testing.T) {
			e := loadRun(t, run)
			out, kind := FillTemplate(tmpl, e, Options{Now: renderedAt})
			if kind != KindUpstream {
				t.Errorf("kind %q, want %q", kind, KindUpstream)
			}
			checkTables(t, p, string(out))
			lines := strings.Split(string(out), "\n")
			for _, line := range lines {
				cells, _, _ := splitRow(line)
				if len(cells) != 5 || !strings.Contains(cells[1], "`") {
					continue
				}
				result, notes := strings.TrimSpace(cells[3]), strings.TrimSpace(cells[4])
				if result == "" && !strings.Contains(notes, "not run by the harness") {
					t.Errorf("row left blank without a note: %s", line)
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
	e := loadRun(t, "fail-blocked")
	tmpl := "# Checklist\n\n- [X] lanes: `pytest ./difftrain/tests -v`\n" +
		"- [ ] train: `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run`\n"
	out, _ := FillTemplate([]byte(tmpl), e, Options{Now: renderedAt})
	got := string(out)
	if !strings.Contains(got, "- [X] lanes: `pytest ./difftrain/tests -v`\n") {
		t.Errorf("a ticked box was changed:\n%s", got)
	}
	if !strings.Contains(got, "- [ ] train: `python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run` — FAIL") {
		t.Errorf("the open box of a step that ran was not filled:\n%s", got)
	}
}
