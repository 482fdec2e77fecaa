package checklist

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// With go test -count=N the suite refuses to run a section again; the refusal (a skip) is in
// junit.xml beside the real result, and gotestsum writes skips before passes. The checklist keeps
// the real result. Two real results for one section are still an error.
func TestRefusedRetryKeepsTheRealResult(t *testing.T) {
	const refused = `<testcase classname="smoke" name="Test02Dataset" time="0"><properties>
<property name="result" value="SKIPPED"></property><property name="reason" value="already ran in this process (PASS); the runbook forbids retries"></property>
<property name="section" value="02"></property></properties><skipped message="already ran"></skipped></testcase>`
	const passed = `<testcase classname="smoke" name="Test02Dataset" time="0.1"><properties>
<property name="result" value="PASS"></property><property name="section" value="02"></property></properties></testcase>`
	junitOf := func(cases ...string) string {
		return `<?xml version="1.0" encoding="UTF-8"?><testsuites><testsuite name="smoke" tests="2" failures="0" errors="0" time="0.1">` +
			strings.Join(cases, "") + `</testsuite></testsuites>`
	}
	for _, order := range [][]string{{refused, passed}, {passed, refused}} {
		e, err := Load(evidenceDir(t, map[string]string{"run.json": minimalRun, "junit.xml": junitOf(order...)}))
		require.NoError(t, err)
		require.Equal(t, "02 PASS", results(e)[2])
	}
	_, err := Load(evidenceDir(t, map[string]string{"run.json": minimalRun, "junit.xml": junitOf(passed, passed)}))
	require.ErrorContains(t, err, "section 02 is already recorded")
}
