package gpusmoke_test

// The step cannot write the evidence: it gets no harness setting, and whatever it writes into
// the evidence directory anyway is named and fails the run; nothing writes the evidence after
// it is sealed, however the run ends.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

// A training script that finds the evidence directory plants a file, replaces an earlier
// section's log and forges gpu_env.json: the run FAILs with each file named, the documents say
// so, and the evidence still verifies. No step sees SMOKE_OUT or any other harness setting.
func TestStepCannotForgeTheEvidence(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	r := makeSmokeTo(t, out, "TESTFLAGS=-run Test0[0-4]", "FIXTURE_TAMPER=train_text_to_image", "FIXTURE_TAMPER_DIR="+out,
		"FIXTURE_LEAK=SMOKE_OUT,SMOKE_PLAN,GPUSMOKE_BIN,DIFFTRAIN_DIR", "SMOKE_PLAN=runbook")
	require.Contains(t, r.read(t, "logs/04-train.log"), "tampered with the evidence")
	require.Equal(t, 1, r.exit, "a run whose evidence a step wrote must fail; output:\n%s", r.tail())
	requireDocuments(t, r.out)
	var sum evidence.Summary
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.SummaryFile)), &sum))
	require.Equal(t, evidence.Fail, sum.Verdict)
	report := r.read(t, evidence.ReportFile)
	for _, f := range []string{"planted.txt", "logs/03-validate.log", "gpu_env.json"} {
		require.Contains(t, report, f, "the report names every file the step wrote")
	}
	require.Contains(t, report, "not written by the harness")
	require.Contains(t, report, "changed after the harness wrote it")
	for _, log := range []string{"logs/02-dataset.log", "logs/04-train.log"} {
		text := r.read(t, log)
		for _, v := range []string{"SMOKE_OUT", "SMOKE_PLAN", "GPUSMOKE_BIN", "DIFFTRAIN_DIR"} {
			require.Contains(t, text, "[fixture] "+v+"=\n", "%s: a step saw the harness setting %s", log, v)
		}
	}
}

// makeSmokeTo is makeSmoke with SMOKE_OUT chosen by the test.
func makeSmokeTo(t *testing.T, out string, env ...string) smokeRun {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv(append([]string{"SMOKE_OUT=" + out, "TMPDIR=" + t.TempDir()}, env...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return finish(t, out, cmd, err, buf.String())
}

// gotestsum dies while the suite still stops its step (as on a second Ctrl-C under `timeout`):
// run-smoke waits for the suite to seal its run before it renders, exits non-zero, and nothing
// writes the evidence after the seal.
func TestGotestsumDiesFirst(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), "FIXTURE_HANG=train_text_to_image", "FIXTURE_IGNORE_TERM=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool {
		return fileText(filepath.Join(out, "logs", "04-train.log")) != ""
	}, 2*time.Minute, 20*time.Millisecond, "04-train never started:\n%s", buf.String())
	pgid := cmd.Process.Pid
	require.NoError(t, syscall.Kill(-pgid, syscall.SIGINT))
	gotestsum := groupMember(t, pgid, "gotestsum")
	require.NoError(t, syscall.Kill(gotestsum, syscall.SIGKILL))
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		t.Fatalf("make smoke did not end:\n%s", buf.String())
	}
	output := buf.String()
	r := smokeRun{out: out, output: output}
	require.Regexp(t, `run-smoke: exit [1-9]`, output, "an interrupted run never exits 0")
	requireDocuments(t, out) // verifies SHA256SUMS: nothing wrote after the seal
	var sum evidence.Summary
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.SummaryFile)), &sum))
	require.Equal(t, evidence.Interrupted, sum.Verdict, output)
	require.Contains(t, output, "waiting for the suite")
	require.NoFileExists(t, filepath.Join(out, evidence.LockFile), "no lock outlives the run")
}

// groupMember is the pid of the process of process group pgid whose command is comm.
func groupMember(t *testing.T, pgid int, comm string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			s := string(b)
			open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || close < open {
				continue
			}
			f := strings.Fields(s[close+1:])
			if s[open+1:close] == comm && len(f) > 2 && f[2] == strconv.Itoa(pgid) {
				pid, _ = strconv.Atoi(e.Name())
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "no %s in process group %d", comm, pgid)
	return pid
}
