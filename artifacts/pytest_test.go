package artifacts

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/difftrain/gpusmoke/junit"
	"github.com/stretchr/testify/require"
)

// casesWant is what testdata/pytest/cases.py gives: one test of each of pytest's outcomes.
var casesWant = []PytestCase{
	{ID: "cases::test_passes", Outcome: junit.Passed},
	{ID: "cases::test_fails", Outcome: junit.Failed, Message: "AssertionError: lists differ"},
	{ID: "cases::test_skipped_by_call", Outcome: junit.Skipped, Message: "CUDA is required for this smoke test."},
	{ID: "cases::test_skipped_by_marker", Outcome: junit.Skipped, Message: "slow tests are disabled (use --run-slow)"},
	{ID: "cases::test_xfail", Outcome: junit.Skipped, Message: "known bug"},
	{ID: "cases::test_setup_error", Outcome: junit.Failed, Message: `failed on setup with "RuntimeError: fixture setup failed"`},
	{ID: "cases::test_param[1]", Outcome: junit.Passed},
	{ID: "cases::test_param[2]", Outcome: junit.Passed},
	{ID: "cases.TestGroup::test_in_class", Outcome: junit.Passed},
}

// TestReadPytestJUnit reads the JUnit a real pytest wrote for testdata/pytest/cases.py
// (recorded: testdata/README.md).
func TestReadPytestJUnit(t *testing.T) {
	got, err := ReadPytestJUnit(filepath.Join(input, "pytest", "junit.xml"))
	require.NoError(t, err)
	require.Equal(t, casesWant, got)
}

// TestReadPytestJUnitFresh runs cases.py with this machine's pytest, so that a newer pytest's
// JUnit is read the same way.
func TestReadPytestJUnitFresh(t *testing.T) {
	py := pythonWith(t, "pytest")
	out := filepath.Join(t.TempDir(), "junit.xml")
	cmd := pythonCmd(py, "-m", "pytest", "cases.py", "-p", "no:cacheprovider", "-q", "--junitxml", out)
	cmd.Dir = filepath.Join("testdata", "pytest")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", b) // exit 1: a test failed
	require.Equal(t, 1, ee.ExitCode(), "%s", b)
	got, err := ReadPytestJUnit(out)
	require.NoError(t, err)
	require.Equal(t, casesWant, got)
}

func TestReadPytestJUnitRejects(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, content, want string }{
		{"empty.xml", "", "empty.xml: no XML element in it"},
		{"html.xml", "<html><body>502</body></html>", "html.xml: root element is <html>, want pytest's <testsuites>"},
		{"cut.xml", `<testsuites><testsuite><testcase classname="a" name="b">`, "cut.xml: not XML: XML syntax error on line 1: unexpected EOF"},
		{"noname.xml", `<testsuites><testsuite><testcase classname="a"/></testsuite></testsuites>`, "noname.xml: testcase 1: name is empty"},
	} {
		p := filepath.Join(dir, c.name)
		require.NoError(t, os.WriteFile(p, []byte(c.content), 0o644))
		_, err := ReadPytestJUnit(p)
		require.EqualError(t, err, filepath.Join(dir, c.want), c.name)
	}
	_, err := ReadPytestJUnit(filepath.Join(dir, "missing.xml"))
	require.ErrorContains(t, err, "read pytest's JUnit")
	require.ErrorContains(t, err, "missing.xml")
}

// TestGPUSmokeTestCommand: the GPU lane's run is checked as written by pytest running difftrain's
// GPU smoke test, which sets its own keys and records `python -m pytest`'s argv.
func TestGPUSmokeTestCommand(t *testing.T) {
	argv := []string{"/usr/bin/python3", "-m", "pytest", "./difftrain/tests", "-m", "slow and cuda and text2image", "-v"}
	c := GPUSmokeTest(argv, "/ws/tmp/test_x0", 5)
	require.Equal(t, "pytest", c.Module)
	require.True(t, c.Deterministic())
	o := c.Overrides()
	require.Equal(t, "/ws/tmp/test_x0/run", o["train.output_dir"])
	require.Equal(t, "/ws/tmp/test_x0/data", o["data.data_root"])
	require.Equal(t, 2, o["train.max_steps"], "min(max_steps, 2)")
	require.Equal(t, 1, o["train.checkpointing_steps"])

	env := &EnvJSON{Path: "env.json", Argv: append([]string{"/usr/lib/python3/dist-packages/pytest/__main__.py"}, argv[3:]...)}
	require.NoError(t, env.WrittenBy(c))
	env.Argv[0] = "/usr/bin/pytest" // the console script, not python -m pytest
	require.ErrorContains(t, env.WrittenBy(c), "but the step ran python -m pytest ./difftrain/tests")
	env.Argv = append([]string{"/x/pytest/__main__.py"}, argv[3:6]...) // -v missing
	require.Error(t, env.WrittenBy(c))

	// A plain pytest lane's command sets nothing: its flags are pytest's.
	require.Empty(t, ParseCommand(argv).Overrides())
	require.False(t, ParseCommand(argv).Deterministic())
}
