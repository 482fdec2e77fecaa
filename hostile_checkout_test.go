package gpusmoke_test

// End-to-end tests of a hostile or sloppy machine around the checkout and the evidence
// directory (issue "Hostile training code, a hostile machine"): each case through make smoke or
// the compiled suite, as a user runs it.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

// badSettingsRun runs the compiled suite with env and expects exit status 2 and one line on
// stderr that matches want, with no section run.
func badSettingsRun(t *testing.T, want string, env ...string) {
	t.Helper()
	cmd := exec.Command(smokeBinary(t), "-test.run", "Test0")
	cmd.Env = cleanEnv(env...)
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Run(), &ee, "stdout:\n%s", stdout.String())
	require.Equal(t, 2, ee.ExitCode(), "stderr: %s", stderr.String())
	msg := strings.TrimRight(stderr.String(), "\n")
	require.NotContains(t, msg, "\n", "one line")
	require.Regexp(t, "^smoke: "+want, msg)
	require.NotContains(t, stdout.String(), "=== RUN", "no section may run")
}

// A checkout that was already dirty, where a step edits the same file again: git's status line
// does not change, the file's content does.
func TestDirtyCheckoutEditedAgain(t *testing.T) {
	dir, env := fixtureCheckout(t)
	gitInit(t, dir)
	base := filepath.Join(dir, "configs", "base.yaml")
	f, err := os.OpenFile(base, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("# edited by hand before the run\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r := makeSmoke(t, append(env, "FIXTURE_TOUCH_TRACKED=make_dummy_imagefolder", "TESTFLAGS=-run Test0[0-2]")...)
	require.Regexp(t, `^02-dataset modified the difftrain checkout .*: configs/base.yaml changed again \(it was already modified before the run\)$`,
		requireHalted(t, r, 2))
}

// A checkout that is not a git repository: every file is compared before and after each step,
// and the report says which guard was used.
func TestCheckoutWithoutGit(t *testing.T) {
	_, env := fixtureCheckout(t) // WriteFixture makes no repository
	r := makeSmoke(t, append(env, "FIXTURE_TOUCH_TRACKED=make_dummy_imagefolder", "TESTFLAGS=-run Test0[0-2]")...)
	require.Regexp(t, `^02-dataset modified the difftrain checkout .*not a git repository.*: configs/base.yaml \(changed\)$`, requireHalted(t, r, 2))
	require.Contains(t, r.read(t, evidence.ReportFile), "no git repository: every file of the checkout is compared before and after each step")
}

// A plan whose output directory or temporary config leaves the workspace is refused when it loads.
func TestPlanWritingOutsideWorkspace(t *testing.T) {
	for _, name := range []string{"output-dir-escapes.yaml", "temp-config-absolute.yaml"} {
		t.Run(name, func(t *testing.T) {
			plan, err := filepath.Abs(filepath.Join("testdata/bad/plan", name))
			require.NoError(t, err)
			badSettingsRun(t, `SMOKE_PLAN=\S+: plan \S+: step 0[78]-amp-(fp16|bf16): command: --(output-dir|config) \S+ is outside the workspace`,
				"SMOKE_PLAN="+plan, "SMOKE_OUT="+filepath.Join(t.TempDir(), "out"))
		})
	}
}

// SMOKE_OUT inside the checkout (here its docs/, whose tracked template the renderer would
// overwrite) is refused, and so is one that already holds a run: two runs never mix.
func TestEvidenceDirectoryRefused(t *testing.T) {
	dir, env := fixtureCheckout(t)
	t.Run("inside the checkout", func(t *testing.T) {
		badSettingsRun(t, `SMOKE_OUT=\S+/difftrain/docs: inside \S+/difftrain, which the run checks or writes`,
			append(env, "SMOKE_OUT="+filepath.Join(dir, "docs"))...)
	})
	t.Run("already holds a run", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "evidence")
		require.NoError(t, os.MkdirAll(out, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(out, evidence.RunFile), []byte("{}"), 0o644))
		badSettingsRun(t, `SMOKE_OUT=\S+/evidence: already holds a run \(run.json\)`, append(env, "SMOKE_OUT="+out)...)
	})
}

// Two runs with one SMOKE_OUT: the second stops with one line while the first holds the lock,
// and the first run's evidence is untouched.
func TestTwoRunsOneEvidenceDirectory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	first := exec.Command(smokeBinary(t), "-test.v")
	first.Env = cleanEnv("SMOKE_OUT="+out, "FIXTURE_HANG=validate_config")
	first.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf bytes.Buffer
	first.Stdout, first.Stderr = &buf, &buf
	require.NoError(t, first.Start())
	waited := false
	t.Cleanup(func() {
		if !waited { // once waited for, its pid may be another process's
			_ = syscall.Kill(-first.Process.Pid, syscall.SIGKILL)
			_ = first.Wait()
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(fileText(filepath.Join(out, "logs/03-validate.log")), "hanging") },
		time.Minute, 50*time.Millisecond, "the first run never reached 03:\n%s", &buf)
	runJSON := fileText(filepath.Join(out, evidence.RunFile))

	badSettingsRun(t, `SMOKE_OUT=\S+/evidence: another run is writing it \(\.smoke\.lock held by pid \d+\)`, "SMOKE_OUT="+out)
	require.Equal(t, runJSON, fileText(filepath.Join(out, evidence.RunFile)), "the second run wrote into the first's evidence")

	require.NoError(t, syscall.Kill(-first.Process.Pid, syscall.SIGTERM))
	err := first.Wait()
	waited = true
	require.Error(t, err, "an interrupted run never exits 0")
}

// gitInit makes dir a git repository with one commit of everything in it.
func gitInit(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "fixture"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
}

// repro.sh run from a fresh shell (env -i) gives the failed step its whole environment back,
// not only the variables the harness knows of: here one the step prints.
func TestReproFromAFreshShell(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_FAIL=train_text_to_image", "FIXTURE_LEAK=RUN_LABEL", "RUN_LABEL=gpu-night-7", "TESTFLAGS=-run Test0[0-4]")
	requireHalted(t, r, 4)
	cmd := exec.Command("env", "-i", "PATH=/usr/bin:/bin", "bash", filepath.Join(r.out, evidence.ReproFile))
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the step must fail again:\n%s", out)
	require.Contains(t, string(out), "RuntimeError: injected failure (FIXTURE_FAIL)")
	require.Contains(t, string(out), "[fixture] RUN_LABEL=gpu-night-7", "the step's own variable was not restored")
	require.FileExists(t, filepath.Join(r.out, evidence.ReproEnvFile))
}

// A disk that fills during a step: the step fails naming SMOKE_OUT and the file it could not
// write, the run stops cleanly, run.json stays valid JSON, and the documents are still rendered
// (into the space the suite set aside at the start).
func TestDiskFillsMidRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	out := filepath.Join(mnt, "evidence")
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "SMOKE_MIN_FREE_MB=1", "FIXTURE_NOISE=6000000", "TESTFLAGS=-run Test0[0-5]")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	require.Error(t, err, "a run that lost its log must not exit 0:\n%s", buf.String())
	run, err := evidence.ReadRun(out)
	require.NoError(t, err, "run.json must stay valid JSON")
	var train evidence.Section
	for _, s := range run.Sections {
		if s.Name == "train" {
			train = s
		}
	}
	require.Equal(t, evidence.Fail, train.Result, "output:\n%s", buf.String())
	require.Equal(t, "04-train: SMOKE_OUT: no space left on device ("+filepath.Join(out, "logs", "04-train.log")+")", train.Reason)
	require.FileExists(t, filepath.Join(out, evidence.ChecklistFile), "the documents are still rendered")
}
