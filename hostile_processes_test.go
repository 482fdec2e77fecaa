package gpusmoke_test

// Processes that escape (issue 11), end to end through `make smoke`: a double-forked daemon
// that keeps the step's stdout open (the step exits 0, or times out, or is interrupted while
// it runs), kill -9 of the test binary, go test's own -timeout, and plan timeouts whose sum
// overflows. Each test bounds every wait, so that a hang is a failure, not a stuck test, and
// kills what it started.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/procstat"
	"github.com/difftrain/gpusmoke/internal/testenv"
	"github.com/difftrain/gpusmoke/runner"
)

// lockedBuffer is a bytes.Buffer that make writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// watchedSmoke is a `make smoke` started in its own process group, watched while it runs.
type watchedSmoke struct {
	t    *testing.T
	out  string
	cmd  *exec.Cmd
	buf  *lockedBuffer
	done chan struct{} // closed when make has exited; err is then its error
	err  error
}

// startSmoke starts `make smoke` with the given settings. When the test ends, make's process
// group is killed if it is still running.
func startSmoke(t *testing.T, env ...string) *watchedSmoke {
	t.Helper()
	return startSmokeAs(t, nil, filepath.Join(t.TempDir(), "evidence"), append([]string{"TMPDIR=" + t.TempDir()}, env...)...)
}

// startSmokeAs is startSmoke as the user cred (nil: this process's), with the evidence in out.
func startSmokeAs(t *testing.T, cred *syscall.Credential, out string, env ...string) *watchedSmoke {
	t.Helper()
	w := &watchedSmoke{t: t, out: out, buf: &lockedBuffer{}, done: make(chan struct{})}
	w.cmd = exec.Command("make", "--no-print-directory", "smoke")
	w.cmd.Env = cleanEnv(append([]string{"SMOKE_OUT=" + w.out}, env...)...)
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	w.cmd.Stdout, w.cmd.Stderr = w.buf, w.buf
	// make's output may be held open by a process that outlives it: Wait returns anyway.
	w.cmd.WaitDelay = 10 * time.Second
	require.NoError(t, w.cmd.Start())
	go func() { w.err = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			killTree(w.cmd.Process.Pid)
			<-w.done
		}
	})
	return w
}

// killTree kills pid's process group and every descendant of pid, in whatever group.
func killTree(pid int) {
	tree := map[int]bool{pid: true}
	for grew := true; grew; {
		grew = false
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			child, err := strconv.Atoi(filepath.Base(p))
			if err == nil && !tree[child] && tree[parentOf(child)] {
				tree[child], grew = true, true
			}
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for p := range tree {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

func (w *watchedSmoke) tail() string {
	lines := strings.Split(w.buf.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-60):], "\n")
}

// waitFor polls what get returns until re matches it, for at most within, and returns the match.
func (w *watchedSmoke) waitFor(what string, get func() string, re *regexp.Regexp, within time.Duration) []string {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(get()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not within %s; make smoke's output:\n%s", what, within, w.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits for re in the step's log.
func (w *watchedSmoke) waitLog(step string, re string, within time.Duration) []string {
	w.t.Helper()
	p := filepath.Join(w.out, evidence.LogsDir, step+".log")
	return w.waitFor("logs/"+step+".log matching "+re, func() string { return fileText(p) }, regexp.MustCompile(re), within)
}

// waitSectionEnd waits for the go test -json stream to say that test ended, and returns when
// the test saw it.
func (w *watchedSmoke) waitSectionEnd(test string, within time.Duration) time.Time {
	w.t.Helper()
	p := filepath.Join(w.out, evidence.JSONFile)
	re := regexp.MustCompile(`"Action":"(pass|fail|skip)","Package":"[^"]*","Test":"` + test + `"`)
	w.waitFor(test+" to end", func() string { return fileText(p) }, re, within)
	return time.Now()
}

// wait waits for make to exit, for at most within, and reads the evidence.
func (w *watchedSmoke) wait(within time.Duration) smokeRun {
	w.t.Helper()
	select {
	case <-w.done:
		return finish(w.t, w.out, w.cmd, w.err, w.buf.String())
	case <-time.After(within):
		killTree(w.cmd.Process.Pid)
		<-w.done
		w.t.Fatalf("make smoke did not exit within %s; its output:\n%s", within, w.tail())
		return smokeRun{}
	}
}

// procAlive reports whether pid is a live process whose command line contains what (a zombie
// is not), so that a pid reused by another process does not count.
func procAlive(pid int, what string) bool {
	if f := procstat.Fields(pid); len(f) == 0 || f[0] == "Z" {
		return false
	}
	return strings.Contains(strings.ReplaceAll(fileText(fmt.Sprintf("/proc/%d/cmdline", pid)), "\x00", " "), what)
}

// requireGone waits for pid to be gone: a SIGKILL lands asynchronously.
func requireGone(t *testing.T, pid int, what, why string) {
	t.Helper()
	require.Eventually(t, func() bool { return !procAlive(pid, what) }, 10*time.Second, 20*time.Millisecond,
		"pid %d (%s) is still running: %s", pid, what, why)
}

// killProcessesIn kills, when the test ends, whatever of a step still runs in dir (as the old
// code leaves the training process of a killed suite running).
func killProcessesIn(t *testing.T, dir string) {
	t.Cleanup(func() {
		for _, p := range processesIn(dir) {
			pid, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(p, ":", 2)[0], "/proc/"))
			if err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// parentOf is pid's parent, from /proc/<pid>/stat, or 0.
func parentOf(pid int) int {
	f := procstat.Fields(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// deathTime polls pid every 5 ms and sends the time it is first seen gone.
func deathTime(pid int, what string) <-chan time.Time {
	c := make(chan time.Time, 1)
	go func() {
		for procAlive(pid, what) {
			time.Sleep(5 * time.Millisecond)
		}
		c <- time.Now()
	}()
	return c
}

// startedAt is when pid started, from /proc (10 ms resolution): /proc/<pid>/stat's start time
// in clock ticks since boot (USER_HZ, 100 on Linux), against /proc/uptime.
func startedAt(t *testing.T, pid int) time.Time {
	t.Helper()
	up, now := fileText("/proc/uptime"), time.Now()
	stat := fileText(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(stat, ')')
	require.Positive(t, i, "pid %d: no /proc/%d/stat", pid, pid)
	f := strings.Fields(stat[i+1:])
	ticks, err := strconv.ParseFloat(f[19], 64)
	require.NoError(t, err)
	upSec, err := strconv.ParseFloat(strings.Fields(up)[0], 64)
	require.NoError(t, err)
	return now.Add(-time.Duration((upSec - ticks/100) * float64(time.Second)))
}

// planTimeouts writes the fixture's plan with the named steps' timeouts replaced.
func planTimeouts(t *testing.T, timeouts map[string]string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture-plan.yaml")
	require.NoError(t, err)
	plan := string(b)
	for name, timeout := range timeouts {
		i := strings.Index(plan, "\n    name: "+name+"\n")
		require.Positive(t, i, "no step %s in the fixture's plan", name)
		j := i + strings.Index(plan[i:], "\n    timeout: ")
		require.Greater(t, j, i)
		k := j + 1 + strings.Index(plan[j+1:], "\n")
		plan = plan[:j] + "\n    timeout: " + timeout + plan[k:]
	}
	p := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(p, []byte(plan), 0o644))
	return p
}

// stepSlack is what a step may take beyond its timeout before the test calls it a hang: the
// runner's bound (SIGTERM, SIGKILL after a grace, a grace for the leader to go, the sweep and the
// drain: 4 graces) and 10 s more.
const stepSlack = 4*runner.Grace + 10*time.Second

// daemonLine is what the fixture prints when FIXTURE_DAEMON has started its daemon.
const daemonLine = `daemon started \(FIXTURE_DAEMON\), daemon_pid=(\d+) keeps stdout open`

// A double-forked daemon (setsid) that keeps stdout open. The old code waited for the output
// pipe to close whatever the timeout said: a step whose script exits 0 hung as long as the
// daemon ran and then passed, and a timeout did not hold; the daemon outlived the run unnamed.
// Now the daemon is found by the step's marker, killed, named in the reason, and the step fails,
// within its timeout plus the runner's grace periods.
func TestDaemonThatKeepsStdoutOpen(t *testing.T) {
	t.Run("exits 0 but a daemon survives", func(t *testing.T) {
		w := startSmoke(t, "FIXTURE_DAEMON=validate_config", "TESTFLAGS=-run Test0[0-3]")
		m := w.waitLog("03-validate", daemonLine, 3*time.Minute)
		daemon, _ := strconv.Atoi(m[1])
		testenv.KillAtEnd(t, testenv.Learn(daemon))
		// The script exits 0 at once: the step must end at once, not when the daemon does.
		w.waitSectionEnd("Test03Validate", stepSlack)
		r := w.wait(2 * time.Minute)
		requireGone(t, daemon, "validate_config", "the escaped daemon outlived its step")
		reason := requireHalted(t, r, 3)
		require.Regexp(t, fmt.Sprintf(`^03-validate: exited 0; 1 process\(es\) outlived the step outside its process group, killed: pid %d \(\S*python\S* \./difftrain/scripts/validate_config\.py .*\)$`, daemon), reason)
		require.Contains(t, r.read(t, "logs/03-validate.log"), fmt.Sprintf("[smoke] 03-validate: 1 process(es) outlived the step outside its process group, killed: pid %d (", daemon))
		require.Contains(t, r.read(t, evidence.ReportFile), fmt.Sprintf("pid %d", daemon), "the report names the daemon")
	})
	t.Run("timeout while a daemon holds the pipe", func(t *testing.T) {
		const timeout = 2 * time.Second
		plan := planTimeouts(t, map[string]string{"validate": timeout.String()})
		w := startSmoke(t, "SMOKE_PLAN="+plan, "FIXTURE_DAEMON=validate_config:hang", "TESTFLAGS=-run Test0[0-3]")
		m := w.waitLog("03-validate", daemonLine, 3*time.Minute)
		daemon, _ := strconv.Atoi(m[1])
		testenv.KillAtEnd(t, testenv.Learn(daemon))
		died := deathTime(daemon, "validate_config")
		hang := w.waitLog("03-validate", `hanging \(FIXTURE_DAEMON\), pid=(\d+)`, time.Minute)
		leader, _ := strconv.Atoi(hang[1])
		testenv.KillAtEnd(t, testenv.Learn(leader))
		started := startedAt(t, leader)
		leaderDied := deathTime(leader, "validate_config")
		// The timeout holds although the daemon holds the pipe: old code hung here.
		ended := w.waitSectionEnd("Test03Validate", timeout+stepSlack)
		r := w.wait(2 * time.Minute)
		requireGone(t, daemon, "validate_config", "the escaped daemon outlived its step")
		reason := requireHalted(t, r, 3)
		require.Regexp(t, fmt.Sprintf(`^03-validate: timed out after 2s; 1 process\(es\) outlived the step outside its process group, killed: pid %d \(\S*python\S* \./difftrain/scripts/validate_config\.py .*\)$`, daemon), reason)
		require.Contains(t, r.read(t, "logs/03-validate.log"), "timed out after 2s; process group")
		var info evidence.Run
		require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
		requireNoProcessIn(t, info.Workspace)
		// The figure, as seen from outside the suite: from the step's timeout (its leader's start
		// in /proc, to 10 ms, plus the timeout; and the leader's death, which SIGTERM brings at
		// the timeout) to the daemon's death. Reported, not asserted.
		at, leaderAt := <-died, <-leaderDied
		t.Logf("FIGURE escaped daemon killed %.3fs after the step's timeout, %.3fs after its leader died (section seen ending %.3fs after the timeout)",
			at.Sub(started.Add(timeout)).Seconds(), at.Sub(leaderAt).Seconds(), ended.Sub(started.Add(timeout)).Seconds())
	})
}

// Ctrl-C while a daemon holds the step's pipe. The old code ignored it until the daemon exited:
// the runner waited for the pipe, not for the signal. Now the step stops at once, INTERRUPTED,
// the daemon is killed and named, and the run exits non-zero all the way up: the suite,
// gotestsum, the recipe and make.
func TestCtrlCWhileADaemonHoldsThePipe(t *testing.T) {
	w := startSmoke(t, "FIXTURE_DAEMON=validate_config:hang", "TESTFLAGS=-run Test0[0-4]")
	m := w.waitLog("03-validate", daemonLine, 3*time.Minute)
	daemon, _ := strconv.Atoi(m[1])
	testenv.KillAtEnd(t, testenv.Learn(daemon))
	w.waitLog("03-validate", `hanging \(FIXTURE_DAEMON\)`, time.Minute)
	died := deathTime(daemon, "validate_config")
	sent := time.Now()
	require.NoError(t, syscall.Kill(-w.cmd.Process.Pid, syscall.SIGINT)) // what a terminal's Ctrl-C does
	w.waitSectionEnd("Test03Validate", stepSlack)
	r := w.wait(2 * time.Minute)
	requireGone(t, daemon, "validate_config", "the escaped daemon outlived the interrupted run")
	t.Logf("FIGURE escaped daemon killed %.3fs after Ctrl-C", (<-died).Sub(sent).Seconds())

	// An interrupted run never exits 0: make dies of the SIGINT itself, so its status says
	// nothing; its recipe's (run-smoke's, the suite's) does, and make prints it.
	require.NotEqual(t, 0, r.code, "an interrupted run never exits 0; output:\n%s", r.tail())
	require.Regexp(t, `make: \*\*\* \[\S+: smoke\] Error [1-9]`, r.output, "the recipe must exit non-zero")
	res, reason := r.result(t, "Test03Validate")
	require.Equal(t, evidence.Interrupted, res, r.tail())
	require.Regexp(t, fmt.Sprintf(`^03-validate: interrupted after \d+s; 1 process\(es\) outlived the step outside its process group, killed: pid %d \(`, daemon), reason)
	res, reason = r.result(t, "Test04Train")
	require.Equal(t, evidence.Skipped, res, reason)
	// The suite itself failed: the package's own result in the go test -json stream.
	require.Regexp(t, `"Action":"fail","Package":"[^"]+","Elapsed"`, r.read(t, evidence.JSONFile))
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	require.Equal(t, "interrupt", info.Interrupted)
	require.Contains(t, r.read(t, evidence.ReportFile), "INTERRUPTED")
	requireNoProcessIn(t, info.Workspace)
}

// hangLine is what the fixture prints when FIXTURE_HANG has started its child and hangs.
const hangLine = `hanging \(FIXTURE_HANG\), pid=(\d+) child_pid=(\d+)`

// kill -9 of the test binary. The old code left the training process running with ppid 1.
// Now the step's leader dies with the suite (the kernel's parent-death signal); its own child,
// which no signal reaches, is killed by the next run, which names it in run.json and the report:
// a child that carries the step's marker, and one that carries nothing (an empty environment, no
// output pipe, a session of its own), which only the dead step's cgroup holds; the next run
// also removes that cgroup.
func TestKill9OfTheTestBinary(t *testing.T) {
	for _, oc := range []orphanCase{
		{name: "a marked child", knob: "FIXTURE_HANG=train_text_to_image", cmd: "time.sleep",
			pids: func(w *watchedSmoke) (int, int) {
				m := w.waitLog("04-train", hangLine, 3*time.Minute)
				return atoi(m[1]), atoi(m[2])
			},
			named: `^pid \d+ \(\S*python\S* -c import time; time\.sleep\(10\*\*7\)\), left by step \d+\.\d+\.[0-9a-f]{8}/04-train$`},
		{name: "a child only the cgroup holds", cgroup: true, knob: "FIXTURE_DAEMON=train_text_to_image:scrub:hang", cmd: "train_text_to_image",
			pids: func(w *watchedSmoke) (int, int) {
				d := w.waitLog("04-train", daemonAnyLine, 3*time.Minute)
				m := w.waitLog("04-train", `hanging \(FIXTURE_DAEMON\), pid=(\d+)`, time.Minute)
				return atoi(m[1]), atoi(d[1])
			},
			named: `^pid \d+ \(\S*python\S* -c import sys, time; time\.sleep\(float\(sys\.argv\[1\]\)\) 1000000\.0 train_text_to_image\), left by step \d+\.\d+\.[0-9a-f]{8}/04-train$`},
	} {
		t.Run(oc.name, func(t *testing.T) {
			if oc.cgroup {
				requireStepCgroups(t)
			}
			// Every suite sweeps the whole machine's orphans when it starts: one started by
			// another package's tests (go test ./... runs packages at once) may kill this orphan
			// before the next run here does. The orphan is then dead but not named here: that
			// case is tried again.
			for try := 1; ; try++ {
				if !kill9Once(t, oc) {
					return
				}
				require.Less(t, try, 3, "three times another suite killed the orphan before the next run could")
				t.Logf("try %d: another suite on this machine killed the orphan first; trying again", try)
			}
		})
	}
}

// orphanCase is one kill -9 case: the fixture's setting, how to read the step's leader and the
// orphan from the step's log, what the orphan's command line holds, and how run.json names it.
type orphanCase struct {
	name   string
	cgroup bool // only a cgroup holds the orphan
	knob   string
	pids   func(w *watchedSmoke) (leader, orphan int)
	cmd    string
	named  string
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// kill9Once runs the kill -9 case once, and reports whether the orphan was killed by some other
// suite than the next run here (stolen).
func kill9Once(t *testing.T, oc orphanCase) (stolen bool) {
	t.Helper()
	before := stepCgroupDirs(t)
	w := startSmoke(t, oc.knob, "TESTFLAGS=-run Test0[0-4]")
	leader, child := oc.pids(w)
	testenv.KillAtEnd(t, testenv.Learn(leader))
	testenv.KillAtEnd(t, testenv.Learn(child))
	suite := parentOf(leader)
	require.True(t, procAlive(suite, "smoke.test"), "the training's parent, pid %d, is not the test binary", suite)

	require.NoError(t, syscall.Kill(suite, syscall.SIGKILL))
	requireGone(t, leader, "train_text_to_image", "the training process outlived the killed suite")
	require.True(t, procAlive(child, oc.cmd), "the training's child is the orphan the next run must find")

	// The next run, before anything runs, kills the orphan and names it. It starts at once,
	// while the killed run's make still renders its documents.
	r := makeSmoke(t, "TESTFLAGS=-run Test00")
	w.wait(2 * time.Minute)
	require.NoFileExists(t, filepath.Join(w.out, evidence.ReserveFile), "the renderer frees the reserve of a suite killed before its seal")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	requireGone(t, child, oc.cmd, "the next run left the orphan running")
	requireNoStepCgroupLeft(t, before)
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	var named []string
	for _, o := range info.Orphans {
		if strings.HasPrefix(o, fmt.Sprintf("pid %d (", child)) {
			named = append(named, o)
		}
	}
	if len(named) == 0 {
		return true // dead, and this run did not kill it
	}
	require.Len(t, named, 1, "run.json's orphans: %v", info.Orphans)
	require.Regexp(t, oc.named, named[0])
	require.Contains(t, r.read(t, evidence.ReportFile), fmt.Sprintf("pid %d (", child), "the report names the orphan")
	require.Contains(t, r.output, fmt.Sprintf("smoke: killed pid %d (", child))
	return false
}

// go test's own -timeout. The old code let the test binary's alarm fire in the middle of the
// step: the binary panicked and the training process kept running with ppid 1. Now the step's
// timeout is cut to end before the test's deadline, so the step fails as a timeout, with its
// evidence, and nothing keeps running.
func TestGoTestTimeout(t *testing.T) {
	w := startSmoke(t, "FIXTURE_HANG=train_text_to_image", "TESTFLAGS=-timeout 40s -run Test0[0-4]")
	m := w.waitLog("04-train", hangLine, 3*time.Minute)
	leader, _ := strconv.Atoi(m[1])
	child, _ := strconv.Atoi(m[2])
	testenv.KillAtEnd(t, testenv.Learn(leader))
	testenv.KillAtEnd(t, testenv.Learn(child))
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(fileText(filepath.Join(w.out, evidence.RunFile))), &info))
	killProcessesIn(t, info.Workspace)

	r := w.wait(3 * time.Minute)
	reason := requireHalted(t, r, 4)
	require.Regexp(t, `^04-train: timed out after [0-9.]+s \(the plan allows 30m0s; cut to end before go test's -timeout\)$`, reason)
	require.NotContains(t, r.output, "panic: test timed out")
	requireGone(t, leader, "train_text_to_image", "the training process outlived the test deadline")
	requireGone(t, child, "time.sleep", "the training's child outlived the test deadline")
	requireNoProcessIn(t, info.Workspace)
}

// Plan timeouts whose sum overflows. The old code added them up in a time.Duration, which wrapped:
// these two give go test a 15 s deadline, and the run panics when it passes. Now the plan is
// refused when it loads, before anything runs, with one line that names the step.
func TestPlanTimeoutsThatOverflow(t *testing.T) {
	// 2562046h51m24.354775808s twice, plus the other steps' 107m and the suite's 5m margin,
	// is 15 s modulo 2^64 ns.
	const huge = "2562046h51m24.354775808s"
	plan := planTimeouts(t, map[string]string{"install": huge, "train": huge})
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), "SMOKE_PLAN="+plan)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		killTree(cmd.Process.Pid)
		<-done
		t.Fatalf("make smoke did not exit within 3 minutes:\n%s", buf.String())
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "make smoke must fail; output:\n%s", buf.String())
	require.Contains(t, buf.String(), fmt.Sprintf("smoke: SMOKE_PLAN=%[1]s: plan %[1]s: step 01-install: timeout %[2]s: the steps' timeouts add up to more than 100000h0m0s, the most a plan may take\n", plan, huge))
	require.NotContains(t, buf.String(), "=== RUN   Test0", "no section may run")
	entries, _ := os.ReadDir(filepath.Join(out, evidence.LogsDir))
	require.Empty(t, entries, "no step may run")
}

// daemonAnyLine is what the fixture prints when FIXTURE_DAEMON has started its daemon, whatever
// its kind.
const daemonAnyLine = `daemon started \(FIXTURE_DAEMON\), daemon_pid=(\d+) (?:pane_pid=(\d+) )?(?:keeps stdout open|closed stdout)`

// requireStepCgroups skips the test where steps cannot have a cgroup of their own, saying why,
// except where CI=true or GPUSMOKE_REQUIRE_CGROUP=1 says that the machine has them (.ci/run runs
// as root on a machine with cgroup v2).
func requireStepCgroups(t *testing.T) {
	t.Helper()
	if err := runner.StepCgroups(); err != nil {
		if os.Getenv("GPUSMOKE_REQUIRE_CGROUP") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("per-step cgroups are required here (GPUSMOKE_REQUIRE_CGROUP=1 or CI=true): %v", err)
		}
		t.Skipf("no per-step cgroup on this machine: %v", err)
	}
}

// stepCgroupDirs lists the step cgroups (gpusmoke.*) under the cgroup v2 mount.
func stepCgroupDirs(t *testing.T) map[string]bool {
	t.Helper()
	dirs := map[string]bool{}
	for _, line := range strings.Split(fileText("/proc/self/mounts"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "cgroup2" {
			continue
		}
		_ = filepath.WalkDir(f[1], func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "gpusmoke.") {
				dirs[p] = true
				return filepath.SkipDir
			}
			return nil
		})
	}
	return dirs
}

// requireNoStepCgroupLeft checks that every step cgroup made since before belongs to a run
// still alive (another suite's, on this machine): a dead run's is removed.
func requireNoStepCgroupLeft(t *testing.T, before map[string]bool) {
	t.Helper()
	var left []string
	require.Eventually(t, func() bool {
		left = nil
		for d := range stepCgroupDirs(t) {
			f := strings.SplitN(filepath.Base(d), ".", 5)
			if !before[d] && (len(f) < 5 || !runner.RunAlive(f[1]+"."+f[2]+"."+f[3]+"/"+f[4])) {
				left = append(left, d)
			}
		}
		return len(left) == 0
	}, 5*time.Second, 50*time.Millisecond, "a dead run's step cgroup was left: %v", &left)
}

// A family that carries neither the step's marker nor its output pipe and leaves its session (an
// empty environment, a new tmux server), or one that keeps the marker but forks a new pid every
// millisecond (issue 17, items 3 and 4): the old sweep missed each, and the step PASSED with the
// family still running. In a cgroup of its own, the step's whole family is frozen, killed and
// named with pids and command lines, the step FAILs, and the cgroup is removed.
func TestFamiliesTheStepsCgroupHolds(t *testing.T) {
	requireStepCgroups(t)
	for _, kind := range []string{"scrub", "forks", "tmux"} {
		t.Run(kind, func(t *testing.T) {
			if _, err := exec.LookPath("tmux"); kind == "tmux" && err != nil {
				t.Skip("no tmux on this machine")
			}
			lock := filepath.Join(t.TempDir(), "family.lock")
			before := stepCgroupDirs(t)
			w := startSmoke(t, "FIXTURE_DAEMON=validate_config:"+kind, "FIXTURE_DAEMON_SECONDS=120",
				"FIXTURE_DAEMON_LOCK="+lock, "TESTFLAGS=-run Test0[0-3]")
			m := w.waitLog("03-validate", daemonAnyLine, 3*time.Minute)
			daemon := atoi(m[1])
			testenv.KillAtEnd(t, testenv.Learn(daemon))
			t.Cleanup(func() { // the forking family's group, which lives on while a member holds the lock
				if !testenv.LockFree(lock) {
					_ = syscall.Kill(-daemon, syscall.SIGKILL)
				}
			})
			w.waitSectionEnd("Test03Validate", stepSlack)
			r := w.wait(2 * time.Minute)
			reason := requireHalted(t, r, 3)
			require.Regexp(t, `^03-validate: exited 0; \d+ process\(es\) outlived the step outside its process group, killed: pid \d+ \(`, reason)
			switch kind {
			case "scrub":
				requireGone(t, daemon, "validate_config", "the daemon with an empty environment outlived its step")
				require.Contains(t, reason, fmt.Sprintf("pid %d (", daemon))
				require.Regexp(t, `\(\S*python\S* -c import sys, time; time\.sleep\(float\(sys\.argv\[1\]\)\) 120\.0 validate_config\)`, reason)
			case "forks":
				require.Eventually(t, func() bool { return testenv.LockFree(lock) }, 10*time.Second, 20*time.Millisecond,
					"the forking family outlived its step")
				require.Regexp(t, `\(\S*python\S* \./difftrain/scripts/validate_config\.py `, reason)
			case "tmux":
				pane := atoi(m[2])
				testenv.KillAtEnd(t, testenv.Learn(pane))
				requireGone(t, daemon, "tmux", "the tmux server outlived its step")
				requireGone(t, pane, "sleep", "the tmux window's command outlived its step")
				require.Regexp(t, fmt.Sprintf(`pid %d \(\S*tmux -S `, daemon), reason)
				require.Contains(t, reason, fmt.Sprintf("pid %d (sleep 120)", pane))
			}
			require.Contains(t, r.read(t, "logs/03-validate.log"), "[smoke] 03-validate: ")
			requireNoStepCgroupLeft(t, before)
		})
	}
}

// asNobody prepares a run of make smoke as the user nobody: the suite's binaries built first, as
// this user, and an evidence directory, TMPDIR and HOME that nobody owns. It returns nobody's
// credential, SMOKE_OUT and the settings. It skips where this process cannot switch users (it is
// not root) or nobody cannot read the repository.
func asNobody(t *testing.T) (*syscall.Credential, string, []string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("only root can run the suite as another user")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	cred := &syscall.Credential{Uid: uint32(atoi(u.Uid)), Gid: uint32(atoi(u.Gid)), Groups: []uint32{}}
	build := exec.Command("make", "--no-print-directory", ".bin/plain/smoke.test", ".bin/plain/gotestsum", ".bin/plain/test2json", ".bin/plain/checklist")
	build.Env = cleanEnv()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the suite:\n%s", out)
	check := exec.Command("/bin/sh", "-c", "test -r Makefile && test -x scripts/run-smoke && test -x .bin/plain/smoke.test")
	check.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := check.Run(); err != nil {
		wd, _ := os.Getwd()
		t.Skipf("nobody cannot read the repository at %s: %v", wd, err)
	}
	dir, err := os.MkdirTemp("", "gpusmoke-nobody-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{dir, filepath.Join(dir, "home"), filepath.Join(dir, "tmp")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.Chown(d, int(cred.Uid), int(cred.Gid)))
	}
	return cred, filepath.Join(dir, "evidence"), []string{"HOME=" + filepath.Join(dir, "home"), "TMPDIR=" + filepath.Join(dir, "tmp")}
}

// The README's own scenario, in a suite that does not run as root (issue 17, item 1): a daemon
// that calls setsid() and makes itself non-dumpable, so that the suite can read neither its
// environment nor its descriptors, keeps the step's stdout open. No cgroup can be had (preflight
// says so), no sweep finds the daemon. Before 4ca5875 the step hung until the daemon ended and
// then PASSED, and a Ctrl-C took as long; after it, the step still PASSED. Now the step ends
// within its bound and FAILs, saying that its pipe was held open, and a Ctrl-C ends the run
// within the bound, INTERRUPTED, exit non-zero.
func TestNonRootSuite(t *testing.T) {
	t.Run("exits 0 while a non-dumpable daemon holds the pipe", func(t *testing.T) {
		cred, out, env := asNobody(t)
		w := startSmokeAs(t, cred, out, append(env, "FIXTURE_DAEMON=validate_config:nodump", "FIXTURE_DAEMON_SECONDS=60", "TESTFLAGS=-run Test0[0-3]")...)
		m := w.waitLog("03-validate", daemonLine, 3*time.Minute)
		testenv.KillAtEnd(t, testenv.Learn(atoi(m[1])))
		w.waitSectionEnd("Test03Validate", stepSlack)
		r := w.wait(2 * time.Minute)
		reason := requireHalted(t, r, 3)
		require.Equal(t, "03-validate: exited 0; the output pipe was still open 2s after the step ended, held by a process that could not be found; stopped reading it", reason)
		require.Regexp(t, `steps run without a cgroup of their own: create cgroup \S+: permission denied \(a suite that does not run as root needs a delegated cgroup v2\)`,
			r.notes("Test00Preflight"))
	})
	t.Run("Ctrl-C while a non-dumpable daemon holds the pipe", func(t *testing.T) {
		cred, out, env := asNobody(t)
		w := startSmokeAs(t, cred, out, append(env, "FIXTURE_DAEMON=validate_config:hang:nodump", "FIXTURE_DAEMON_SECONDS=60", "TESTFLAGS=-run Test0[0-4]")...)
		m := w.waitLog("03-validate", daemonLine, 3*time.Minute)
		testenv.KillAtEnd(t, testenv.Learn(atoi(m[1])))
		hang := w.waitLog("03-validate", `hanging \(FIXTURE_DAEMON\), pid=(\d+)`, time.Minute)
		leader := atoi(hang[1])
		testenv.KillAtEnd(t, testenv.Learn(leader))
		sent := time.Now()
		require.NoError(t, syscall.Kill(-w.cmd.Process.Pid, syscall.SIGINT)) // what a terminal's Ctrl-C does
		ended := w.waitSectionEnd("Test03Validate", stepSlack)
		r := w.wait(2 * time.Minute)
		t.Logf("FIGURE non-root suite, unfindable holder: section seen ending %.3fs after Ctrl-C", ended.Sub(sent).Seconds())
		requireGone(t, leader, "validate_config", "the step's leader outlived the interrupted run")
		require.NotEqual(t, 0, r.code, "an interrupted run never exits 0; output:\n%s", r.tail())
		require.Regexp(t, `make: \*\*\* \[\S+: smoke\] Error [1-9]`, r.output, "the recipe must exit non-zero")
		res, reason := r.result(t, "Test03Validate")
		require.Equal(t, evidence.Interrupted, res, r.tail())
		require.Regexp(t, `^03-validate: interrupted after \d+s; the output pipe was still open 2s after the step ended, held by a process that could not be found; stopped reading it$`, reason)
		res, _ = r.result(t, "Test04Train")
		require.Equal(t, evidence.Skipped, res)
	})
}
