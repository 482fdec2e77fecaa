package gpusmoke_test

// junit.xml as CI ingests it, read by the parser CI result publishers use: Debian's
// python3-junitparser.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/testenv"
)

// ciCase is one testcase as junitparser reads it.
type ciCase struct {
	Name, Status, Message, SystemOut string
}

// junitParserScript prints junit.xml's testcases, in file order, as junitparser reads them.
const junitParserScript = `
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
out = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        status, message = "passed", ""
        for r in case.result:
            if isinstance(r, (Failure, Error)):
                status, message = "failed", r.message or ""
            elif isinstance(r, Skipped) and status == "passed":
                status, message = "skipped", r.message or ""
        out.append({"Name": case.name, "Status": status, "Message": message, "SystemOut": case.system_out or ""})
json.dump(out, sys.stdout)
`

// readJUnitAsCI reads the run's junit.xml with junitparser; the test skips where it is not
// installed (it is in CI: .ci/run installs python3-junitparser).
func readJUnitAsCI(t *testing.T, r smokeRun) []ciCase {
	t.Helper()
	py := "/usr/bin/python3"
	cmd := exec.Command(py, "-c", "import junitparser")
	cmd.Env = testenv.Clean()
	if err := cmd.Run(); err != nil {
		if os.Getenv("SMOKE_REQUIRE_TORCH") == "1" {
			t.Fatalf("%s has no junitparser (apt-get install python3-junitparser): %v", py, err)
		}
		t.Skipf("%s has no junitparser (apt-get install python3-junitparser)", py)
	}
	cmd = exec.Command(py, "-c", junitParserScript, filepath.Join(r.out, evidence.JUnitFile))
	cmd.Env = testenv.Clean()
	out, err := cmd.Output()
	require.NoError(t, err, "junitparser could not read junit.xml")
	var cases []ciCase
	require.NoError(t, json.Unmarshal(out, &cases))
	return cases
}

// requireCIView checks what CI shows of a run: every section's testcase in the plan's order
// (tests), a failure's message its one-line reason with its log's last lines as system-out,
// and each blocked section skipped with its reason.
func requireCIView(t *testing.T, r smokeRun, tests []string) {
	t.Helper()
	var names []string
	for _, c := range readJUnitAsCI(t, r) {
		names = append(names, c.Name)
		s, ok := r.sections[c.Name]
		require.True(t, ok, "%s is no section", c.Name)
		switch s.Result {
		case evidence.Fail, evidence.Interrupted:
			require.Equal(t, "failed", c.Status, c.Name)
			require.Equal(t, s.Reason, c.Message, "%s: CI's annotation is the section's reason", c.Name)
			require.Contains(t, c.SystemOut, "--- last 40 lines of "+s.Log+" ---", c.Name)
		case evidence.Skipped, evidence.NA:
			require.Equal(t, "skipped", c.Status, c.Name)
			require.Equal(t, s.Reason, c.Message, c.Name)
		default:
			require.Equal(t, "passed", c.Status, c.Name)
		}
	}
	var want []string
	for _, name := range tests {
		if _, ok := r.sections[name]; ok {
			want = append(want, name)
		}
	}
	require.Equal(t, want, names, "junit.xml lists the sections in the plan's order")
}
