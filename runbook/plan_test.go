package runbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/badinput"
	"gotest.tools/v3/golden"
)

func TestDefaultIsTheRunbook(t *testing.T) {
	p := Default()
	require.Equal(t, EmbeddedPath, p.Path)
	require.Len(t, p.SHA256, 64)
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, s.ID())
	}
	require.Equal(t, []string{"00-preflight", "01-install", "02-dataset", "03-validate", "04-train",
		"05-artifacts", "06-resume", "07-amp-fp16", "08-amp-bf16"}, ids)
	require.Empty(t, p.Deviations())
}

// docs/runbook.md, the project's account of the runbooks it automates, gives every command of
// both built-in plans word for word (in backticks, double quotes for the plan's quoting).
func TestDocsGiveEveryCommand(t *testing.T) {
	doc, err := os.ReadFile("../docs/runbook.md")
	require.NoError(t, err)
	for _, b := range Builtins {
		p, err := Named(b.Name)
		require.NoError(t, err)
		for _, s := range p.Steps {
			if len(s.Command) == 0 {
				continue
			}
			cmd := strings.ReplaceAll(evidence.Quote(s.Command), "'", `"`)
			require.True(t, strings.Contains(string(doc), "`"+cmd+"`"), "docs/runbook.md does not give %s's step %s: `%s`", b.Name, s.ID(), cmd)
		}
	}
}

func TestFixturePlanDeviatesWithReasons(t *testing.T) {
	p, err := Load("../testdata/fixture-plan.yaml")
	require.NoError(t, err)
	devs := p.Deviations()
	require.Len(t, devs, 1)
	require.Equal(t, "install", devs[0].Name)
	require.Contains(t, devs[0].Reason, "offline")
	require.Equal(t, `python -m pip install -e './difftrain[text2image]'`, devs[0].Runbook)
}

// TestPytestLanesIsTheUpstreamRunbook: the second built-in plan runs difftrain's own pytest
// lanes, through the plan's interpreter (`python -m pytest`); TestDocsGiveEveryCommand holds
// their commands to docs/runbook.md.
func TestPytestLanesIsTheUpstreamRunbook(t *testing.T) {
	p, err := Named("pytest-lanes")
	require.NoError(t, err)
	require.Equal(t, "(embedded pytest-lanes)", p.Path)
	require.Equal(t, "pytest-lanes", p.Base)
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, s.ID())
	}
	require.Equal(t, []string{"00-preflight", "01-install", "02-unit-lane", "03-gpu-lane", "04-lane-artifacts"}, ids)
	require.Empty(t, p.Deviations())
	for _, name := range []string{"unit-lane", "gpu-lane"} {
		s, err := p.Step(name)
		require.NoError(t, err)
		require.Equal(t, []string{"python", "-m", "pytest"}, s.Command[:3])
	}
}

func TestNamedPlans(t *testing.T) {
	for _, b := range Builtins {
		p, err := Named(b.Name)
		require.NoError(t, err, b.Name)
		require.Equal(t, BuiltinPath(b.Name), p.Path)
		require.Contains(t, b.Follows, "(docs/runbook.md", "make plans cites the project's own account of the runbook")
	}
	require.Equal(t, EmbeddedPath, Default().Path)
	_, err := Named("nightly")
	require.EqualError(t, err, `no built-in plan named "nightly" (runbook, pytest-lanes)`)
}

func TestFixtureLanesPlanDeviatesWithReasons(t *testing.T) {
	for _, f := range []string{"../testdata/fixture-pytest-lanes-plan.yaml", "../testdata/conformance-pytest-lanes-plan.yaml"} {
		p, err := Load(f)
		require.NoError(t, err, f)
		devs := p.Deviations()
		require.Len(t, devs, 1, f)
		require.Equal(t, "install", devs[0].Name)
		require.Contains(t, devs[0].Reason, "offline")
		require.Equal(t, `python -m pip install -e './difftrain[text2image,dev]'`, devs[0].Runbook)
	}
}

func TestStepHelpers(t *testing.T) {
	s, err := Default().Step("dataset")
	require.NoError(t, err)
	require.Equal(t, "./data/smoke_text2image", s.Flag("--output-dir"))
	require.Equal(t, "64", s.Flag("--image-size"))
	require.Equal(t, "", s.Flag("--nope"))
	require.Equal(t, "/usr/bin/python3", s.Argv("/usr/bin/python3")[0])
	require.Equal(t, "python", s.Command[0], "Argv must not change the plan")
	require.Equal(t, 5*time.Minute, time.Duration(s.Timeout))
	_, err = Default().Step("nope")
	require.ErrorContains(t, err, `no step named "nope"`)
}

// Each step's Go test is named from the plan: a name means one section in every built-in plan,
// so that no two steps share a test.
func TestStepTests(t *testing.T) {
	want := map[string]string{"00-preflight": "Test00Preflight", "04-train": "Test04Train",
		"07-amp-fp16": "Test07AMPFP16", "08-amp-bf16": "Test08AMPBF16", "02-unit-lane": "Test02UnitLane",
		"03-gpu-lane": "Test03GPULane", "04-lane-artifacts": "Test04LaneArtifacts"}
	section := map[string]string{}
	for _, b := range Builtins {
		p, err := Named(b.Name)
		require.NoError(t, err)
		for _, st := range p.Steps {
			if w, ok := want[st.ID()]; ok {
				require.Equal(t, w, st.Test())
			}
			if prev, ok := section[st.Name]; ok {
				require.Equal(t, prev, st.Section, "step %s is section %s in one built-in plan and %s in another", st.Name, prev, st.Section)
			}
			section[st.Name] = st.Section
		}
	}
}

func TestSkippedOptionalSectionIsADeviation(t *testing.T) {
	b, err := os.ReadFile("runbook.yaml")
	require.NoError(t, err)
	s := strings.Replace(string(b), "    optional: true\n  - section: \"07\"",
		"    optional: true\n    skip: true\n    reason: the lead waived resume on this instance\n  - section: \"07\"", 1)
	p, err := Parse([]byte(s), "waive.yaml")
	require.NoError(t, err)
	devs := p.Deviations()
	require.Len(t, devs, 1)
	require.Equal(t, "resume", devs[0].Name)
	require.Equal(t, "(skipped)", devs[0].Command)
}

// TestBadPlans runs every broken plan in testdata/bad/plan: each is refused with one line that
// names the file and, where there is one, the step or field. The errors are kept in a golden file.
func TestBadPlans(t *testing.T) {
	got := badinput.Errors(t, "../testdata/bad/plan/*.yaml", func(p string) (string, string) {
		_, err := Load(p)
		return badinput.Msg(err), p
	})
	golden.Assert(t, got, "bad-plans.golden")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorContains(t, err, "read plan: open ")
	require.ErrorContains(t, err, "nope.yaml")
}
