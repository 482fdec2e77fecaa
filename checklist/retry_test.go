package checklist

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
	"github.com/stretchr/testify/require"
)

// With go test -count=N the suite refuses to run a section again; the refusal (a skip) is in
// junit.xml beside the real result. The recorded run (TESTFLAGS='-count=2 -run Test0[0-2]') has
// gotestsum's order, the skips first; the checklist keeps the real result in either order. Two
// real results for one section are still an error.
func TestRefusedRetryKeepsTheRealResult(t *testing.T) {
	junitXML := recordedFile(t, "retry-refused", evidence.JUnitFile)
	cases := junitCaseRE.FindAllStringSubmatchIndex(junitXML, -1)
	var names, refused, passed []string
	for _, m := range cases {
		block := junitXML[m[0]:m[1]]
		names = append(names, junitXML[m[2]:m[3]])
		if strings.Contains(block, "already ran in this process") {
			refused = append(refused, block)
		} else {
			passed = append(passed, block)
		}
	}
	require.Equal(t, []string{"Test00Preflight", "Test01Install", "Test02Dataset", "Test00Preflight", "Test01Install", "Test02Dataset"}, names)
	require.Len(t, refused, 3, "the recorded junit.xml has a refusal per section")
	head, tail := junitXML[:cases[0][0]], junitXML[cases[len(cases)-1][1]:]
	want := []string{"00 PASS", "01 PASS", "02 PASS", "03 NOT RUN", "04 NOT RUN", "05 NOT RUN", "06 NOT RUN", "07 NOT RUN", "08 NOT RUN"}
	run := recordedFile(t, "retry-refused", evidence.RunFile)

	e, err := view.Load(filepath.Join(recorded.Dir, "retry-refused"))
	require.NoError(t, err)
	require.Equal(t, want, results(e), "as recorded: the refusals first")

	reordered := head + strings.Join(passed, "") + strings.Join(refused, "") + tail
	e, err = view.Load(evidenceDir(t, map[string]string{evidence.RunFile: run, evidence.JUnitFile: reordered}))
	require.NoError(t, err)
	require.Equal(t, want, results(e), "the passes first")

	twice := head + strings.Join(slices.Concat(passed, passed[2:]), "") + tail
	_, err = view.Load(evidenceDir(t, map[string]string{evidence.RunFile: run, evidence.JUnitFile: twice}))
	require.ErrorContains(t, err, "testcase 4 (Test02Dataset): section 02 is already recorded by testcase 3")
}
