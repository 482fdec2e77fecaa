package template

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
)

var opts = view.Options{Now: recorded.RenderedAt}

// Every step row of a filled template says what ran for it: none is left blank, and none is
// FAIL in a run whose verdict is PASS (a CPU-only run's CUDA row included). On every recorded
// run, with every template: a legacy item ends " — PASS", " — FAIL" or " — NA".
func TestTemplateEveryRowSaysWhatRan(t *testing.T) {
	runs, err := os.ReadDir(recorded.Dir)
	if err != nil {
		t.Fatal(err)
	}
	item := regexp.MustCompile("^\\s*- \\[[ xX]\\] [^—]*`[^—]* — (PASS|FAIL|NA)(:|$)")
	for _, run := range runs {
		e := loadRun(t, run.Name())
		for _, kind := range []string{"fixture", "upstream", "legacy"} {
			out, _ := FillTemplate(recorded.ReadFile(t, templates[kind]), e, opts)
			var results []string
			for _, r := range stepRows(string(out)) {
				results = append(results, r.result)
				if !slices.Contains([]string{evidence.Pass, evidence.Fail, evidence.NA}, r.result) {
					t.Errorf("%s, %s template: a row with no result:\n%s", run.Name(), kind, r.line)
				}
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "- [") && strings.Contains(line, "`") && !strings.Contains(line, "inside-a-fence") {
					m := item.FindStringSubmatch(line)
					if m == nil {
						t.Errorf("%s, %s template: an item with no result:\n%s", run.Name(), kind, line)
						continue
					}
					results = append(results, m[1])
				}
			}
			if e.Verdict() == evidence.Pass && slices.Contains(results, evidence.Fail) {
				t.Errorf("%s, %s template: a FAIL row under the verdict PASS:\n%s", run.Name(), kind, out)
			}
		}
	}
}

// installRow is a step table with the real template's install row: it installs the dev extra too.
const installRow = "| Step | Command | Expected | Result (PASS/FAIL/NA) | Notes |\n| --- | --- | --- | --- | --- |\n" +
	"| Install extras | `python -m pip install -e \"./difftrain[text2image,dev]\"` | No missing deps | | |\n" +
	"| Install text2image | `python -m pip install -e \"./difftrain[text2image]\"` | No missing deps | | |\n"

// The real template's install row installs [text2image,dev]. A run that checked imports in the
// place of pip (the fixture's plans, the conformance plan) did not run it: NA, with the command
// that ran, its result and the plan's reason.
func TestTemplateInstallRowNotRunAsWritten(t *testing.T) {
	for _, run := range []string{"pass", "lanes-pass"} {
		e := loadRun(t, run)
		install := section(t, e, "01")
		out, _ := FillTemplate([]byte(installRow), e, opts)
		for _, step := range []string{"Install extras", "Install text2image"} {
			r := row(t, string(out), step)
			for _, want := range []string{"not in this plan", "01-install PASS, which ran " + view.Code(install.Command), "deviation: " + view.Text(install.Deviation)} {
				if r.result != evidence.NA || !strings.Contains(r.notes, want) {
					t.Errorf("%s: want NA with %q:\n%s", run, want, r.line)
				}
			}
		}
	}
}

// The runbook's own plan pip installs [text2image] (runbook/runbook.yaml), the pytest-lanes plan
// [text2image,dev]. No recorded run pip installs (the fixture runs offline), so the recorded
// fixture run is given, in memory, the install step as each built-in plan writes it: a row is
// PASS only when the extras that ran cover its own, and says what ran when the words differ.
func TestTemplateInstallRowExtras(t *testing.T) {
	for _, tc := range []struct {
		ran, step, result, note string
	}{
		{"[text2image]", "Install extras", evidence.NA, "not in this plan (difftrain MVP smoke (bundled fixture, offline)): it installs the dev extra too; in its place: 01-install PASS, which ran `/usr/bin/python3 -m pip install -e './difftrain[text2image]'`"},
		{"[text2image]", "Install text2image", evidence.Pass, "01-install in 0.3 s"},
		{"[text2image,dev]", "Install extras", evidence.Pass, "01-install in 0.3 s"},
		{"[text2image,dev]", "Install text2image", evidence.Pass, "01-install in 0.3 s, which ran `/usr/bin/python3 -m pip install -e './difftrain[text2image,dev]'`"},
	} {
		e := loadRun(t, "pass")
		e.Run.Plan.Deviations = nil
		for i, s := range e.Sections {
			if s.Name == "install" {
				e.Sections[i].Command = "/usr/bin/python3 -m pip install -e './difftrain" + tc.ran + "'"
				e.Sections[i].Deviation = ""
			}
		}
		out, _ := FillTemplate([]byte(installRow), e, opts)
		if r := row(t, string(out), tc.step); r.result != tc.result || r.notes != tc.note {
			t.Errorf("%s ran, %s row:\n%s\nwant | %s | %s |", tc.ran, tc.step, r.line, tc.result, tc.note)
		}
	}
}

// A row this plan does not run says so: NA, the plan named, and the sections that did its work
// in its place. The runbook's plan runs the GPU smoke lane's steps by their scripts; the
// pytest-lanes plan runs the scripts' work in its GPU lane; difftrain's CI lane (the real
// template's "C. CI Nightly Lane" rows) is the harness's GPU lane run from inside the checkout.
func TestTemplateRowsNotInThisPlan(t *testing.T) {
	ci := "| Step | Command / Location | Expected | Result (PASS/FAIL/NA) | Notes |\n| --- | --- | --- | --- | --- |\n" +
		"| Smoke command in CI | `pytest ./tests -m \"slow and cuda and text2image\" -v --run-slow --run-integration --basetemp ./_ci_tmp/pytest_tmp` | Completes without crash | | |\n" +
		"| Smoke log path | `./_ci_tmp/logs/text2image_smoke.log` | File exists (even on failure) | | |\n" +
		"| Uploaded artifact | `text2image-smoke-${{ github.run_id }}` | Visible in Actions run artifacts | | |\n"
	fixture := string(recorded.ReadFile(t, templates["fixture"]))
	for _, tc := range []struct{ run, step, note string }{
		{"pass", "Run unit tests", "not in this plan (difftrain MVP smoke (bundled fixture, offline)): no section of it does this"},
		{"pass", "Run GPU smoke", "not in this plan (difftrain MVP smoke (bundled fixture, offline)); in its place: 02-dataset PASS, 03-validate PASS, 04-train PASS, 05-artifacts PASS"},
		{"pass", "Smoke command in CI", "not in this plan (difftrain MVP smoke (bundled fixture, offline)); in its place: 02-dataset PASS, 03-validate PASS, 04-train PASS, 05-artifacts PASS"},
		{"pass", "Smoke log path", "not in this plan (difftrain MVP smoke (bundled fixture, offline)): no section of it does this"},
		{"pass", "Uploaded artifact", "not in this plan (difftrain MVP smoke (bundled fixture, offline)): no section of it does this"},
		{"lanes-pass", "Create dummy dataset", "not in this plan (difftrain MVP smoke, pytest lanes (bundled fixture, offline)); in its place: 03-gpu-lane NA"},
		{"lanes-pass", "Run training smoke", "not in this plan (difftrain MVP smoke, pytest lanes (bundled fixture, offline)); in its place: 03-gpu-lane NA, 04-lane-artifacts NA"},
		{"lanes-pass", "fp16 smoke", "not in this plan (difftrain MVP smoke, pytest lanes (bundled fixture, offline)): no section of it does this"},
		{"lanes-pass", "Smoke command in CI", "not in this plan (difftrain MVP smoke, pytest lanes (bundled fixture, offline)); in its place: 03-gpu-lane NA, which ran `/usr/bin/python3 -m pytest ./difftrain/tests -m 'slow and cuda and text2image' -v --run-slow --run-integration --junitxml /runs/lanes-pass/pytest/03-gpu-lane.xml --basetemp /runs/lanes-pass/workspace/gpusmoke-pytest/03-gpu-lane -p no:cacheprovider`, 04-lane-artifacts NA"},
	} {
		out, _ := FillTemplate([]byte(fixture+"\n"+ci), loadRun(t, tc.run), opts)
		if r := row(t, string(out), tc.step); r.result != evidence.NA || r.notes != tc.note {
			t.Errorf("%s, %s:\n%s\nwant | NA | %s |", tc.run, tc.step, r.line, tc.note)
		}
	}
}

// The filled template opens as the run's other documents do (the CPU-only line, then the
// banners) and its footer states the verdict as they state it (view.VerdictLine).
func TestTemplateStatesTheVerdictAsTheOtherDocuments(t *testing.T) {
	for _, run := range []string{"pass", "lanes-pass", "run-alone", "interrupted", "fakegpu"} {
		e := loadRun(t, run)
		out, _ := FillTemplate(recorded.ReadFile(t, templates["fixture"]), e, opts)
		if top := e.CPUOnly() + e.Banners(); !strings.HasPrefix(string(out), top) {
			t.Errorf("%s: the template does not open with\n%s", run, top)
		}
		if !strings.Contains(string(out), " Verdict: "+e.VerdictLine()+". ") {
			t.Errorf("%s: the footer does not say %s", run, e.VerdictLine())
		}
	}
}
