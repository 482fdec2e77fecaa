package gpusmoke

import (
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"testing"

	"github.com/difftrain/gpusmoke/runbook"
	"github.com/stretchr/testify/require"
)

// Every step of the built-in plans has its test in smoke/sections_test.go, named from the plan
// (runbook.Step.Test), and every section test there runs a step: a test named otherwise would
// never run, and a step without its test would never be checked.
func TestEveryStepHasItsTest(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "smoke/sections_test.go", nil, 0)
	require.NoError(t, err)
	section := regexp.MustCompile(`^Test\d\d`)
	var tests []string
	for _, d := range f.Scope.Objects {
		if section.MatchString(d.Name) {
			tests = append(tests, d.Name)
		}
	}
	var steps []string
	for _, b := range runbook.Builtins {
		p, err := runbook.Named(b.Name)
		require.NoError(t, err)
		for _, st := range p.Steps {
			if !slices.Contains(steps, st.Test()) {
				steps = append(steps, st.Test())
			}
		}
	}
	slices.Sort(tests)
	slices.Sort(steps)
	require.Equal(t, steps, tests)
}
