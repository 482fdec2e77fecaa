package testenv

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/internal/procstat"
)

// Proc is a process a test learned of: its pid and when it started. A test that kills what a
// step left behind kills a Proc, never a bare pid: a machine running the suite's tests reuses
// pids within a minute (pid_max is 32768 on many, and the hostile tests fork thousands), so a
// pid read early and killed at the test's end may by then be another package's test binary.
type Proc struct {
	PID int
	// Start is /proc/<pid>/stat's start time, in clock ticks since boot; 0 when the process
	// was gone already when it was learned.
	Start uint64
}

// Learn is pid as it is now. Learn a pid as soon as the test reads it.
func Learn(pid int) Proc {
	return Proc{PID: pid, Start: procstat.StartTicks(pid)}
}

// WatchPids learns each pid that the file at path comes to hold (whitespace-separated, written
// by a step the test runs), as soon as it appears there and while the process still runs, and
// kills those that are still the processes learned, with their groups, when the test ends.
func WatchPids(t testing.TB, path string) {
	seen := map[int]Proc{} // the watcher's until it has stopped, then the cleanup's
	look := func() {
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				if _, ok := seen[pid]; !ok {
					seen[pid] = Learn(pid)
				}
			}
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			look()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
		for _, p := range seen {
			p.Kill()
		}
	})
}

// Same reports whether p's pid still belongs to the process learned (a zombie counts).
func (p Proc) Same() bool {
	return p.Start != 0 && procstat.StartTicks(p.PID) == p.Start
}

// Alive reports whether p is still running: the process learned, and not a zombie.
func (p Proc) Alive() bool {
	f := procstat.Fields(p.PID)
	return p.Same() && len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// Kill sends SIGKILL to p, and to the process group it leads if it leads one, when p is still
// the process learned (procstat.KillChecked holds it by a pidfd while it checks).
func (p Proc) Kill() {
	if p.Start == 0 || !p.Same() {
		return
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL) // no group has its id unless p leads it
	procstat.KillChecked(p.PID, p.Same)
}

// KillAtEnd kills each of ps that is still the process learned, with the group it leads, when
// the test ends: what a step left behind never outlives the test, and nothing else is touched.
func KillAtEnd(t testing.TB, ps ...Proc) {
	t.Cleanup(func() {
		for _, p := range ps {
			p.Kill()
		}
	})
}

// LockFree reports whether no process holds an flock on the file at path (a missing file is
// free): the fixture's forking families hold one while any member lives.
func LockFree(path string) bool {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
