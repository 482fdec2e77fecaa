package runner

// Families that no marker or pipe gives away, and families that fork faster than a look: a
// step's own cgroup v2 holds them all, its session those that stay in it.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/internal/procstat"
	"github.com/difftrain/gpusmoke/internal/testenv"
)

// requireCgroups skips the test where no step cgroup can be had, saying why, except where CI=true
// or GPUSMOKE_REQUIRE_CGROUP=1 says that the machine has them (.ci/run runs as root).
func requireCgroups(t *testing.T) {
	t.Helper()
	if err := StepCgroups(); err != nil {
		if os.Getenv("GPUSMOKE_REQUIRE_CGROUP") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("per-step cgroups are required here (GPUSMOKE_REQUIRE_CGROUP=1 or CI=true): %v", err)
		}
		t.Skipf("no per-step cgroup on this machine: %v", err)
	}
}

// withCgroups runs the test with per-step cgroups on (where the machine has them) or off.
func withCgroups(t *testing.T, on bool) {
	t.Helper()
	if on {
		requireCgroups(t)
		return
	}
	stepCgroupsOff = true
	t.Cleanup(func() { stepCgroupsOff = false })
}

// requireCgroupGone checks that the step ran in a cgroup and that it was removed.
func requireCgroupGone(t *testing.T, res Result) {
	t.Helper()
	require.NotEmpty(t, res.Cgroup, "the step ran in no cgroup")
	require.NoDirExists(t, res.Cgroup, "the step's cgroup was left behind")
}

// forkChain is a family that keeps the step's marker but never keeps a pid: a daemon (setsid,
// its output to /dev/null) that forks a child and exits, over and over, one generation a
// millisecond, for a minute. Every generation holds an flock on lock, so that the lock is free
// only once the whole family is gone. The daemon's first pid, its process group, is written to
// pidFile.
func forkChain(lock, pidFile string) string {
	return fmt.Sprintf(`setsid python3 -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "w")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").write(str(os.getpid()))
t0 = time.monotonic()
while time.monotonic() - t0 < 60:
    time.sleep(0.001)
    if os.fork() != 0:
        os._exit(0)
' %[1]s %[2]s </dev/null >/dev/null 2>&1 &
while [ ! -s %[2]s ]; do sleep 0.01; done
sleep 0.2
echo started`, lock, pidFile)
}

// A family that keeps the step's marker but forks a new pid every millisecond (issue 17, item 3)
// does not outlive the step: with a cgroup it is frozen and killed whole; without one, a look
// that sees one generation kills its process group, all of which carries the marker. The old
// sweep stopped at the first look that found nothing, and the family ran on.
func TestForkingFamilyDoesNotOutliveTheStep(t *testing.T) {
	for _, cg := range []bool{true, false} {
		t.Run(fmt.Sprintf("cgroup=%v", cg), func(t *testing.T) {
			withCgroups(t, cg)
			dir := t.TempDir()
			lock, pidFile := filepath.Join(dir, "family.lock"), filepath.Join(dir, "family.pid")
			t.Cleanup(func() {
				// While a member holds the lock, the family's group lives on, and no other
				// process can have been given its id; once the lock is free, nothing is left.
				if g, err := strconv.Atoi(fileText(pidFile)); err == nil && g > 1 && !testenv.LockFree(lock) {
					_ = syscall.Kill(-g, syscall.SIGKILL)
				}
			})
			res, log := runBounded(t, context.Background(), Cmd{Argv: sh(forkChain(lock, pidFile)), StepID: NewRunID() + "/03-validate"},
				pidFile, 4*Grace+10*time.Second)
			require.Contains(t, log, "started\n")
			require.Eventually(t, func() bool { return testenv.LockFree(lock) }, 5*time.Second, 10*time.Millisecond,
				"the forking family outlived the step; log:\n%s", log)
			require.NotEmpty(t, res.Escaped, "the family was not named")
			require.ErrorContains(t, res.Err, "exited 0, but ")
			require.ErrorContains(t, res.Err, "process(es) outlived the step outside its process group, killed: pid ")
			if cg {
				requireCgroupGone(t, res)
			}
		})
	}
}

// escapees start processes that carry neither the step's marker nor its output pipe, and leave
// its session: only the step's cgroup holds them (issue 17, item 4). Each writes the pids that
// must die to pids, one a line.
var escapees = map[string]string{
	"env -i daemon": `env -i setsid sh -c 'echo $$ > %[1]s; exec sleep 300' </dev/null >/dev/null 2>&1 &`,
	// A new tmux server: a daemon with its output on /dev/null, and the window's command under it.
	"tmux server": `env -i PATH="$PATH" tmux -S %[1]s.sock -f /dev/null new-session -d 'exec sleep 300' </dev/null >/dev/null 2>&1
env -i PATH="$PATH" tmux -S %[1]s.sock display-message -p '#{pid} #{pane_pid}' > %[1]s.tmp && mv %[1]s.tmp %[1]s`,
}

// What carries nothing of the step and leaves its session is found in its cgroup, killed, named
// with its pid and command line, and the step fails; the cgroup is removed.
func TestOnlyTheCgroupFindsThem(t *testing.T) {
	requireCgroups(t)
	for name, start := range escapees {
		t.Run(name, func(t *testing.T) {
			if strings.HasPrefix(name, "tmux") {
				if _, err := exec.LookPath("tmux"); err != nil {
					t.Skip("no tmux on this machine")
				}
			}
			pidFile := filepath.Join(t.TempDir(), "escaped.pid")
			script := fmt.Sprintf(start, pidFile) + fmt.Sprintf("\nwhile [ ! -s %[1]s ]; do sleep 0.01; done\nsleep 0.2\necho started", pidFile)
			res, log := runBounded(t, context.Background(), Cmd{Argv: sh(script), StepID: NewRunID() + "/03-validate"}, pidFile, 4*Grace+10*time.Second)
			require.Contains(t, log, "started\n")
			pids := childPids(t, pidFile)
			for _, pid := range pids {
				requireDies(t, pid)
			}
			var named []int
			for _, p := range res.Escaped {
				named = append(named, p.PID)
				require.Equal(t, p.StepID, res.Escaped[0].StepID)
				require.NotEmpty(t, p.Cmdline)
			}
			require.Subset(t, named, pids, "every escaped process is named: %v", res.Escaped)
			require.ErrorContains(t, res.Err, "exited 0, but ")
			require.Contains(t, log, "[smoke] 03-validate: ")
			requireCgroupGone(t, res)
		})
	}
}

// Without a cgroup, a process that empties its environment and closes its output is still found
// while it stays in the step's session (the leader starts a session of its own), even in a
// process group of its own: killed, named.
func TestTheSessionFindsWhatStaysInIt(t *testing.T) {
	withCgroups(t, false)
	pidFile := filepath.Join(t.TempDir(), "escaped.pid")
	script := fmt.Sprintf(`env -i python3 -c 'import os, time; os.setpgid(0, 0); open("%[1]s", "w").write(str(os.getpid())); time.sleep(300)' </dev/null >/dev/null 2>&1 &
while [ ! -s %[1]s ]; do sleep 0.01; done
echo started`, pidFile)
	res, log := runBounded(t, context.Background(), Cmd{Argv: sh(script), StepID: NewRunID() + "/03-validate"}, pidFile, 4*Grace+10*time.Second)
	pid := daemonPid(t, pidFile)
	requireDies(t, pid)
	require.Contains(t, log, "started\n")
	require.Empty(t, res.Cgroup)
	require.Len(t, res.Escaped, 1, "%v", res.Escaped)
	require.Equal(t, pid, res.Escaped[0].PID)
	require.Equal(t, "", res.Escaped[0].StepID, "found by its session alone")
	require.Contains(t, res.Escaped[0].Cmdline, "python3 -c import os, time;")
}

// StepCgroups says why a step would run without a cgroup.
func TestStepCgroups(t *testing.T) {
	withCgroups(t, true)
	require.NoError(t, StepCgroups())
	stepCgroupsOff = true
	defer func() { stepCgroupsOff = false }()
	require.EqualError(t, StepCgroups(), "per-step cgroups are turned off")
}

// The next run removes the cgroup a dead run left, and kills and names what it held: a process
// with no marker, no pipe and a session of its own, which only the cgroup gives away. The helper
// suite (TestHelperSuite, mode "orphan") runs such a step and is killed with kill -9; the step's
// leader dies with it, the process does not.
func TestSweepOrphansRemovesADeadRunsCgroup(t *testing.T) {
	requireCgroups(t)
	// A run id every other suite on this machine judges alive (this process's pid and start
	// time), so that none of theirs sweeps it first; this sweep judges it dead.
	self := fmt.Sprintf("%d.%d", os.Getpid(), procstat.StartTicks(os.Getpid()))
	stepID := self + ".0000dead/04-train"
	t.Setenv(helperStepEnv, stepID)
	helper, out, _ := startHelper(t, "orphan")
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	orphan, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "orphan "))
	require.NoError(t, err, "the helper said %q", line)
	testenv.KillAtEnd(t, testenv.Learn(orphan))
	cg := strings.TrimSpace(strings.TrimPrefix(fileText(fmt.Sprintf("/proc/%d/cgroup", orphan)), "0::"))
	require.Contains(t, cg, cgroupPrefix+self+".0000dead.04-train")
	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	_ = helper.Wait()

	found, left := sweepOrphans(Grace, nil, func(id string) bool { return id == stepID })
	require.Empty(t, left)
	requireDies(t, orphan)
	require.Contains(t, found, Proc{PID: orphan, Cmdline: "sleep 300", StepID: stepID})
	mnt, _, err := cgroup2Mount()
	require.NoError(t, err)
	matches, _ := filepath.Glob(filepath.Join(mnt, "*", cgroupPrefix+self+".0000dead.*"))
	top, _ := filepath.Glob(filepath.Join(mnt, cgroupPrefix+self+".0000dead.*"))
	require.Empty(t, append(matches, top...), "the dead run's cgroup was left")
}

// fileText is the text of the file at p, or "".
func fileText(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// RunAlive counts a run alive only while its process is the one that marked: a pid reused by
// another process (alive, but started at another time) is a dead run (issue 18, item 9).
func TestRunAliveIsNotFooledByAReusedPid(t *testing.T) {
	pid := os.Getpid()
	ticks := procstat.StartTicks(pid)
	require.NotZero(t, ticks)
	require.True(t, RunAlive(fmt.Sprintf("%d.%d.0000beef/04-train", pid, ticks)))
	require.False(t, RunAlive(fmt.Sprintf("%d.%d.0000beef/04-train", pid, ticks+1)), "a reused pid counted as the run that marked")
	require.False(t, RunAlive(fmt.Sprintf("%d.%d.0000beef/04-train", pid, ticks-1)), "a reused pid counted as the run that marked")
}

// The cgroup's name carries the step id back to the next run.
func TestCgroupStepID(t *testing.T) {
	id, ok := cgroupStepID(cgroupPrefix + "123.456.0a1b2c3d.04-train")
	require.True(t, ok)
	require.Equal(t, "123.456.0a1b2c3d/04-train", id)
	for _, name := range []string{"gpusmoke", "gpusmoke.1.2", "user.slice", "gpusmoke.1.2.3"} {
		_, ok := cgroupStepID(name)
		require.False(t, ok, name)
	}
	require.Equal(t, "/sys/fs/cgroup/a b", unescapeMount(`/sys/fs/cgroup/a\040b`))
}

// A sweep ends only after two looks in a row find nothing: a process that one look misses (it
// was forked between the look's listing and its checks, say) is caught by the next. Here the
// family's test misses the process on its first look.
func TestSweepLooksTwice(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid, looks := cmd.Process.Pid, 0
	found, left := sweep(family{want: func(p int) (Proc, bool) {
		if p != pid {
			return Proc{}, false
		}
		looks++
		return Proc{}, looks > 1
	}}, Grace)
	require.Empty(t, left)
	require.Len(t, found, 1, "the second look must find what the first missed")
	require.Equal(t, pid, found[0].PID)
}

// threadID is the id of a thread of this process other than its leader, alive until the test
// ends: goroutines locked to their threads until one runs on another thread than the main one.
func threadID(t *testing.T) int {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	for {
		tid := make(chan int)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			tid <- syscall.Gettid()
			<-done
		}()
		if id := <-tid; id != os.Getpid() {
			return id
		}
	}
}

// A thread's id is not a process, though /proc resolves it and shows its process's descriptors
// there: the pids a sweep tries ahead of the last one given reach the threads that the sweeping
// suite starts meanwhile, which hold the step's pipe. The old sweep took such a thread for a
// holder of the pipe and killed it by pid, which ended the suite itself (seen in CI as a suite,
// a test helper and a bench child dying of SIGKILL). Here a family that wants every holder of a
// pipe this process holds: its thread is never a member, and a kill of it never lands.
func TestSweepNeverTakesAThreadForItsProcess(t *testing.T) {
	if os.Getenv("RUNNER_THREAD_CHILD") == "1" {
		tid := threadID(t)
		procstat.KillChecked(tid, func() bool { return true })
		time.Sleep(200 * time.Millisecond) // a SIGKILL, had one been sent, has landed
		fmt.Println("alive")
		return
	}
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	defer pw.Close()
	pipe := pipeLink(pr)
	fam := family{want: func(pid int) (Proc, bool) { return Proc{}, holds(pid, pipe) }}
	tid := threadID(t)
	_, wanted := fam.want(tid)
	require.True(t, wanted, "thread %d shows this process's descriptors", tid)
	_, member := fam.member(tid)
	require.False(t, member, "thread %d of process %d counts as a process of the family", tid, os.Getpid())
	_, member = fam.member(os.Getpid())
	require.True(t, member, "the process that holds the pipe is not a member")

	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepNeverTakesAThreadForItsProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "RUNNER_THREAD_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "a kill checked against one of its threads ended the process:\n%s", out)
	require.Contains(t, string(out), "alive\n")
}
