package evidence

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCaseProperties(t *testing.T) {
	c := Case{ID: "tests.test_config::test_roundtrip[a]", Result: Skipped, Reason: "CUDA is required for this smoke test."}
	props := map[string]string{}
	for _, p := range c.Properties(7) {
		props[p[0]] = p[1]
	}
	got, n, ok, err := CaseFromProperties(props)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 7, n)
	require.Equal(t, c, got)

	_, _, ok, err = CaseFromProperties(map[string]string{PropSection: "04"})
	require.NoError(t, err)
	require.False(t, ok, "a section's properties name no case")

	props[PropResult] = NotRun
	_, _, _, err = CaseFromProperties(props)
	require.EqualError(t, err, `property result: "NOT RUN" is not one of PASS, FAIL, SKIPPED`)
}

func TestCounts(t *testing.T) {
	require.Equal(t, "no tests", Counts(nil))
	require.Equal(t, "2 passed, 1 failed, 1 skipped", Counts([]Case{{Result: Pass}, {Result: Skipped}, {Result: Fail}, {Result: Pass}}))
	require.Equal(t, "3 skipped", Counts([]Case{{Result: Skipped}, {Result: Skipped}, {Result: Skipped}}))
}
