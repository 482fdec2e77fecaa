package runner

// Processes that escape: a daemon that leaves the step's process group and keeps its output
// pipe open, a suite killed with kill -9, threads that end under a running step, and orphans an
// earlier run left.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/internal/procstat"
	"github.com/difftrain/gpusmoke/internal/testenv"
	"github.com/difftrain/gpusmoke/redact"
)

// daemonScript starts a daemon as a hostile library might: setsid (a new session and process
// group, out of reach of the group kill), SIGTERM, SIGHUP and SIGINT ignored, stdout and stderr
// kept open. It writes the daemon's pid to pidFile, and the script goes on with then. scrub
// also empties the daemon's environment, so that only the pipe it holds gives it away.
func daemonScript(pidFile, then string, scrub bool) []string {
	env := ""
	if scrub {
		env = "env -i "
	}
	return sh(fmt.Sprintf(`%[2]ssetsid /bin/sh -c 'trap "" TERM HUP INT; echo $$ > %[1]s; exec sleep 300' &
while [ ! -s %[1]s ]; do sleep 0.01; done
echo started
%[3]s`, pidFile, env, then))
}

// runBounded runs c and fails the test if Run does not return within limit; the processes in
// pidFile are killed at the end of the test whatever happens.
func runBounded(t *testing.T, ctx context.Context, c Cmd, pidFile string, limit time.Duration) (Result, string) {
	t.Helper()
	dir := t.TempDir()
	c.Dir, c.Log = dir, filepath.Join(dir, "logs", "03-validate.log")
	c.Prefix = "03-validate"
	testenv.WatchPids(t, pidFile)
	done := make(chan Result, 1)
	go func() { done <- Run(ctx, c) }()
	select {
	case res := <-done:
		log, err := os.ReadFile(c.Log)
		require.NoError(t, err)
		return res, string(log)
	case <-time.After(limit):
		t.Fatalf("Run did not return within %s: a process outside the step's group holds its pipe", limit)
		return Result{}, ""
	}
}

func daemonPid(t *testing.T, pidFile string) int {
	t.Helper()
	pids := childPids(t, pidFile)
	require.Len(t, pids, 1)
	return pids[0]
}

// A step that exits 0 while a daemon it started (setsid) keeps its stdout open: Run returns at
// once, the daemon is killed, named, and the step fails. Found by its cgroup, where it has one,
// and else by its marker, and, with an empty environment, by the pipe it holds.
func TestDaemonThatKeepsStdoutOpen(t *testing.T) {
	for _, tc := range []struct{ scrub, cgroup bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		scrub := tc.scrub
		t.Run(fmt.Sprintf("scrubbed env=%v cgroup=%v", scrub, tc.cgroup), func(t *testing.T) {
			withCgroups(t, tc.cgroup)
			pidFile := filepath.Join(t.TempDir(), "daemon.pid")
			res, log := runBounded(t, context.Background(), Cmd{Argv: daemonScript(pidFile, "echo done", scrub), StepID: NewRunID() + "/03-validate"},
				pidFile, 4*Grace+10*time.Second)
			pid := daemonPid(t, pidFile)
			requireDies(t, pid)
			require.Equal(t, 0, res.ExitCode)
			require.NoError(t, res.Ended)
			require.Len(t, res.Escaped, 1)
			require.Equal(t, pid, res.Escaped[0].PID)
			require.Equal(t, "sleep 300", res.Escaped[0].Cmdline)
			require.Equal(t, scrub && !tc.cgroup, res.Escaped[0].StepID == "", "found by the cgroup, or by the marker unless the environment was scrubbed")
			require.EqualError(t, res.Err, fmt.Sprintf("exited 0, but 1 process(es) outlived the step outside its process group, killed: pid %d (sleep 300)", pid))
			require.Contains(t, log, "started\ndone\n")
			require.Contains(t, log, fmt.Sprintf("[smoke] 03-validate: 1 process(es) outlived the step outside its process group, killed: pid %d (sleep 300)\n", pid))
		})
	}
}

// A timeout holds while a daemon holds the pipe, and a Ctrl-C too.
func TestTimeoutWhileADaemonHoldsThePipe(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "daemon.pid")
		c := Cmd{Argv: daemonScript(pidFile, "sleep 300", false), StepID: NewRunID() + "/03-validate", Timeout: 500 * time.Millisecond}
		res, log := runBounded(t, context.Background(), c, pidFile, c.Timeout+4*Grace+10*time.Second)
		pid := daemonPid(t, pidFile)
		requireDies(t, pid)
		require.True(t, res.TimedOut)
		require.EqualError(t, res.Ended, "timed out after 500ms")
		require.EqualError(t, res.Err, fmt.Sprintf("timed out after 500ms; 1 process(es) outlived the step outside its process group, killed: pid %d (sleep 300)", pid))
		require.Contains(t, log, "timed out after 500ms; process group")
	})
	t.Run("interrupt", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "daemon.pid")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for !fileHas(pidFile, 1) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}()
		c := Cmd{Argv: daemonScript(pidFile, "sleep 300", false), StepID: NewRunID() + "/03-validate", Timeout: time.Minute}
		res, _ := runBounded(t, ctx, c, pidFile, 4*Grace+10*time.Second)
		pid := daemonPid(t, pidFile)
		requireDies(t, pid)
		require.True(t, res.Interrupted)
		require.Len(t, res.Escaped, 1)
		require.Equal(t, pid, res.Escaped[0].PID)
	})
}

// helperEnv makes the test binary, started again, act as a suite that runs one step (see
// TestHelperSuite); helperStepEnv, when set, is the step's StepID.
const (
	helperEnv     = "RUNNER_TEST_HELPER"
	helperStepEnv = "RUNNER_TEST_STEP_ID"
)

// In the helper, the main goroutine keeps the main thread, which the Go runtime never ends:
// so the step is started on a thread that can end, as in the suite, where sections run on
// whatever thread their goroutine is on.
func init() {
	if os.Getenv(helperEnv) != "" {
		runtime.LockOSThread()
	}
}

// TestHelperSuite is not a test: started by another test with helperEnv set, it runs steps
// that write their pids to the file named by helperEnv's value and sleep, then, per
// RUNNER_TEST_MODE: "wait" runs one and waits to be killed; "threads" runs 16 at once, ends 1600
// OS threads (goroutines that exit while locked to theirs) while they run, and prints how many
// steps survived that; "orphan" runs one that first starts a process with no marker, no output
// pipe and a session of its own, prints "orphan <its pid>" and waits to be killed.
func TestHelperSuite(t *testing.T) {
	pidFile := os.Getenv(helperEnv)
	if pidFile == "" {
		t.Skip("a helper process, run by other tests")
	}
	dir := filepath.Dir(pidFile)
	steps := 1
	if os.Getenv("RUNNER_TEST_MODE") == "threads" {
		steps = 16
	}
	script, orphan := "echo $$ >> "+pidFile+"; exec sleep 300", pidFile+".orphan"
	if os.Getenv("RUNNER_TEST_MODE") == "orphan" {
		script = fmt.Sprintf("env -i setsid sh -c 'echo $$ > %[1]s; exec sleep 300' </dev/null >/dev/null 2>&1 &\n"+
			"while [ ! -s %[1]s ]; do sleep 0.01; done\n", orphan) + script
	}
	done := make(chan Result, steps)
	for i := range steps {
		go func() {
			done <- Run(context.Background(), Cmd{Argv: sh(script), Dir: dir, StepID: os.Getenv(helperStepEnv),
				Log: filepath.Join(dir, fmt.Sprintf("step%d.log", i))})
		}()
	}
	for !fileHas(pidFile, steps) {
		time.Sleep(10 * time.Millisecond)
	}
	pids := childPids(t, pidFile)
	switch os.Getenv("RUNNER_TEST_MODE") {
	case "orphan":
		fmt.Printf("orphan %d\n", childPids(t, orphan)[0])
		<-done
		os.Exit(0)
	case "threads":
		// Batches of goroutines that each hold a thread for a moment, so that every idle
		// thread is taken, and end it: a goroutine that exits locked ends its thread.
		for range 50 {
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runtime.LockOSThread()
					time.Sleep(time.Millisecond)
				}()
			}
			wg.Wait()
		}
		time.Sleep(200 * time.Millisecond) // a SIGKILL, had one been sent, has landed
		n := 0
		for _, pid := range pids {
			if running(pid) {
				n++
			}
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		fmt.Printf("steps alive after thread ends: %d of %d\n", n, len(pids))
		for range steps {
			<-done
		}
		os.Exit(0)
	default:
		fmt.Println("step running")
		<-done
		os.Exit(0)
	}
}

// startHelper starts the helper suite in mode and returns it with its step's pid.
func startHelper(t *testing.T, mode string) (*exec.Cmd, *bufio.Reader, int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "step.pid")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSuite$", "-test.count=1")
	// GOMAXPROCS 8: more threads start steps, and more idle ones are there to be taken.
	cmd.Env = append(os.Environ(), helperEnv+"="+pidFile, "RUNNER_TEST_MODE="+mode, "GOMAXPROCS=8")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	testenv.WatchPids(t, pidFile) // killed after the helper
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !fileHas(pidFile, 1) {
		require.True(t, time.Now().Before(deadline), "the helper's step never started")
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, bufio.NewReader(out), childPids(t, pidFile)[0] // the first step
}

// kill -9 of the suite (and so go test's -timeout, which ends the binary) takes the step's
// leader with it: the kernel's parent-death signal, not an orphan with ppid 1.
func TestLeaderDiesWithTheSuite(t *testing.T) {
	helper, out, pid := startHelper(t, "wait")
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "step running\n", line)
	require.Equal(t, helper.Process.Pid, ppidOf(pid), "the step's leader is the helper's child")
	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	requireDies(t, pid)
}

// The parent-death signal is tied to the thread that started the leader: threads that end while
// the step runs (goroutines that exit while locked to their thread) must not kill it.
func TestThreadEndsDoNotKillTheStep(t *testing.T) {
	helper, out, _ := startHelper(t, "threads")
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "steps alive after thread ends: 16 of 16\n", line)
	require.NoError(t, helper.Wait())
}

// The next run kills what an earlier, dead run left (a step's child, whose leader died with the
// suite), and leaves alone the processes of a run that is still alive and those whose marker
// it cannot read.
func TestSweepOrphans(t *testing.T) {
	// RunAlive: a run is alive while its suite's process is, with the same start time.
	suite := exec.Command("sleep", "300")
	require.NoError(t, suite.Start())
	deadRun := fmt.Sprintf("%d.%d.deadbeef", suite.Process.Pid, procstat.StartTicks(suite.Process.Pid))
	require.True(t, RunAlive(deadRun+"/04-train"))
	require.NoError(t, suite.Process.Kill())
	_ = suite.Wait()
	require.False(t, RunAlive(deadRun+"/04-train"))
	require.True(t, RunAlive("not-a-run-id/04-train"), "what a sweep cannot judge, it leaves")

	// The sweep, with this test's judge: the suites other tests run at the same time judge by
	// RunAlive, for which every run below is alive (this process's), so they leave them alone.
	self := fmt.Sprintf("%d.%d", os.Getpid(), procstat.StartTicks(os.Getpid()))
	orphanID, liveID := self+".0000dead/04-train", self+".00a11ve0/04-train"
	start := func(marker string) int {
		cmd := exec.Command("sleep", "300")
		cmd.Env = append(os.Environ(), MarkerVar+"="+marker)
		require.NoError(t, cmd.Start())
		go func() { _ = cmd.Wait() }() // reap it, as init would an orphan
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd.Process.Pid
	}
	orphan, live := start(orphanID), start(liveID)
	require.Eventually(t, func() bool { return markerOf(orphan) == orphanID && markerOf(live) == liveID }, 5*time.Second, 10*time.Millisecond)

	found, left := sweepOrphans(Grace, nil, func(id string) bool { return id == orphanID })
	require.Empty(t, left)
	require.Equal(t, []Proc{{PID: orphan, Cmdline: "sleep 300", StepID: orphanID}}, found)
	require.Equal(t, fmt.Sprintf("pid %d (sleep 300)", orphan), found[0].String())
	requireDies(t, orphan)
	require.True(t, running(live))
}

// A holder of the step's output pipe that no sweep can find or kill (here the suite's own
// process, which a sweep spares, holding a copy the step sent it; in the field, a non-dumpable
// daemon of a non-root suite): Run still returns within the step's bound, on an exit, a
// timeout and a Ctrl-C alike, says that it stopped reading, and the step fails. os.File.Fd would
// have put the pipe into blocking mode, and then nothing could interrupt the pending read.
func TestUnfindableHolderOfThePipe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		then    string
		timeout time.Duration
		cancel  bool
	}{
		{name: "exit 0", then: "exit 0", timeout: time.Minute},
		{name: "timeout", then: "sleep 300", timeout: 3 * time.Second},
		{name: "interrupt", then: "sleep 300", timeout: time.Minute, cancel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			send, arrived := stdoutHolder(t, dir)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() {
					<-arrived
					time.Sleep(200 * time.Millisecond)
					cancel()
				}()
			}
			// The user's PYTHONHOME or PYTHONPATH must not stop the step's python3.
			c := Cmd{Argv: sh(send + tc.then), StepID: NewRunID() + "/03-validate", Timeout: tc.timeout, Env: testenv.Clean()}
			res, log := runBounded(t, ctx, c, filepath.Join(dir, "none.pid"), tc.timeout+4*Grace+15*time.Second)
			select {
			case <-arrived:
			default:
				t.Fatalf("the step's stdout never reached the test; log:\n%s", log)
			}
			const open = "the output pipe was still open 2s after the step ended, held by a process that could not be found; stopped reading it"
			require.Contains(t, log, "[smoke] 03-validate: "+open+"\n")
			require.Equal(t, open, res.HeldOpen)
			require.ErrorContains(t, res.Err, open, "a step whose pipe is held open cannot pass")
			require.Equal(t, tc.cancel, res.Interrupted)
			require.Equal(t, tc.timeout < time.Minute, res.TimedOut)
		})
	}
}

// stdoutHolder makes this process hold a step's stdout, as a non-dumpable daemon of a suite
// that is not root would (no sweep kills this process): it returns the script lines that hand
// the step's stdout over to it and wait until it has arrived, and a channel closed when it has.
// The descriptor is closed when the test ends.
func stdoutHolder(t testing.TB, dir string) (string, <-chan struct{}) {
	t.Helper()
	sock, got := filepath.Join(dir, "fd.sock"), filepath.Join(dir, "got")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	require.NoError(t, err)
	arrived := make(chan struct{})
	held := make(chan *os.File, 1)
	go func() {
		f := receiveFd(l)
		if f != nil && os.WriteFile(got, nil, 0o644) == nil {
			close(arrived)
		}
		held <- f
	}()
	t.Cleanup(func() {
		l.Close()
		if f := <-held; f != nil {
			f.Close()
		}
	})
	return fmt.Sprintf(`python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(%q); socket.send_fds(s, [b"x"], [1]); s.recv(1)' &
while [ ! -e %s ]; do sleep 0.01; done
`, sock, got), arrived
}

// receiveFd accepts one connection on l and returns the descriptor sent over it (SCM_RIGHTS),
// or nil.
func receiveFd(l *net.UnixListener) *os.File {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil
	}
	defer conn.Close()
	buf, oob := make([]byte, 1), make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil
	}
	return os.NewFile(uintptr(fds[0]), "held-stdout")
}

// A process's command line is redacted before it is cut to cmdlineMax bytes: a token across the
// cut lost its end, no redactor could find what was left, and its first bytes reached the reason.
func TestCmdlineRedactedBeforeTheCut(t *testing.T) {
	const secret = "hf_Qz7wVb3KpLm9Rt2XcN8dFg4HjY6"
	pad := strings.Repeat("x", cmdlineMax-10)
	cmd := exec.Command("sleep", "300")
	cmd.Args[0] = pad + secret // the cut falls 10 bytes into the token
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	red := redact.New([]string{"HF_TOKEN=" + secret})
	require.Eventually(t, func() bool { return strings.HasPrefix(cmdlineOf(cmd.Process.Pid, nil), pad) }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, pad+"[REDACTED:HF_TOKEN]…", cmdlineOf(cmd.Process.Pid, red.Writer))
}
