package runner

// Finding a step's processes after they have left its process group. A step's processes are
// marked by an environment variable (MarkerVar), which every descendant inherits and which
// /proc/<pid>/environ shows, and the step's output pipe, which only the step's processes hold.
// A daemon that calls setsid() escapes the group kill, but it keeps both, unless it also scrubs
// its environment and closes the inherited descriptors, or, when the suite does not run as root,
// makes itself non-dumpable (prctl PR_SET_DUMPABLE 0 hides its environ and fds from the same
// user): only a cgroup would find that one. It cannot hang the step, though: Run stops reading
// a pipe still held open Grace after the sweep.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/difftrain/gpusmoke/redact"
)

// MarkerVar is the environment variable that marks every process of a step: Cmd.StepID, which
// the suite makes "<run id>/<section>" (see NewRunID).
const MarkerVar = "SMOKE_STEP_ID"

// Proc is a live process that a sweep found and killed.
type Proc struct {
	PID     int
	Cmdline string // its argv, space-joined, filtered (redacted) and cut to cmdlineMax bytes
	StepID  string // its MarkerVar, or "" when it was found by the step's output pipe alone
}

// String names the process as reasons and reports do: "pid 123 (python train.py --config c.yaml)".
func (p Proc) String() string {
	return fmt.Sprintf("pid %d (%s)", p.PID, p.Cmdline)
}

const (
	cmdlineMax = 200     // bytes of a command line in a reason
	environMax = 1 << 20 // bytes of /proc/<pid>/environ read
	listMax    = 10      // processes named in one reason; the rest are counted
)

// Linux syscall numbers, the same on every architecture since 5.3 (the unified table).
const (
	sysPidfdSendSignal = 424
	sysPidfdOpen       = 434
)

// NewRunID returns an id for this process's run: "<pid>.<start time>.<random>", where the start
// time is /proc/self/stat's, in clock ticks since boot. A later run reads the pid and the start
// time back to tell whether the run that marked a process is still alive (RunAlive).
func NewRunID() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	pid := os.Getpid()
	return fmt.Sprintf("%d.%d.%s", pid, startTicks(pid), hex.EncodeToString(r[:]))
}

// RunAlive reports whether the run whose id begins stepID ("<run id>/<section>") is still
// running. An id that is not NewRunID's counts as alive: a sweep leaves what it cannot judge.
func RunAlive(stepID string) bool {
	run, _, _ := strings.Cut(stepID, "/")
	f := strings.Split(run, ".")
	if len(f) != 3 {
		return true
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || start == 0 {
		return true
	}
	return running(pid) && startTicks(pid) == start
}

// statFields returns the fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ...
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// startTicks is field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot; 0 if unknown.
func startTicks(pid int) uint64 {
	f := statFields(pid)
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// running reports whether pid is a process that has not exited (a zombie has).
func running(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// pgidOf is pid's process group, or 0 if unknown.
func pgidOf(pid int) int {
	f := statFields(pid)
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

func ppidOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// markerOf is pid's MarkerVar, or "" when it has none or its environment cannot be read (another
// user's process, or one that is exiting).
func markerOf(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, environMax))
	prefix := []byte(MarkerVar + "=")
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v)
		}
	}
	return ""
}

// cmdlineOf is pid's argv, space-joined, passed through filter (Cmd.Filter, which redacts) before
// it is cut to cmdlineMax bytes: a secret cut in two would no longer be found whole.
func cmdlineOf(pid int, filter func(io.Writer) io.WriteCloser) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	s := strings.TrimSpace(strings.ToValidUTF8(string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})), "\uFFFD"))
	if s == "" {
		if c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
			s = "[" + strings.TrimSpace(string(c)) + "]"
		}
	}
	if filter != nil {
		var b strings.Builder
		w := filter(&b)
		_, _ = io.WriteString(w, s)
		_ = w.Close()
		s = b.String()
	}
	return redact.Clip(s, cmdlineMax)
}

// holds reports whether pid has a descriptor open on link, e.g. "pipe:[1234]".
func holds(pid int, link string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == link {
			return true
		}
	}
	return false
}

// pipeLink is how /proc/<pid>/fd shows a descriptor of the pipe f is an end of: "pipe:[inode]".
// It reaches the descriptor through SyscallConn, never os.File.Fd, which would put the pipe
// into blocking mode: a Close could then no longer interrupt a pending Read, and a holder of
// the pipe that no sweep finds would hang the step for good.
func pipeLink(f *os.File) string {
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var st syscall.Stat_t
	var serr error = syscall.EINVAL
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil || serr != nil {
		return ""
	}
	return fmt.Sprintf("pipe:[%d]", st.Ino)
}

// allPids lists the processes in /proc.
func allPids() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// ancestors is this process and its ancestors, which a sweep never kills.
func ancestors() map[int]bool {
	out := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !out[pid]; pid = ppidOf(pid) {
		out[pid] = true
	}
	return out
}

// sweep kills, with SIGKILL, every live process that want selects (never this process or its
// ancestors), and looks again until a look finds none, so that a process forked between a look
// and a kill is caught too; it gives up after within. Command lines pass through filter
// (cmdlineOf). It returns each process it found once, in
// the order found, and those still alive when it gave up (a process in uninterruptible sleep
// dies only when it wakes).
func sweep(want func(pid int) (Proc, bool), within time.Duration, filter func(io.Writer) io.WriteCloser) (found, left []Proc) {
	deadline := time.Now().Add(within)
	spare := ancestors()
	seen := map[int]bool{}
	for {
		var now []Proc
		for _, pid := range allPids() {
			if spare[pid] {
				continue
			}
			p, ok := want(pid)
			if !ok || !running(pid) {
				continue
			}
			p.PID = pid
			if p.Cmdline == "" {
				p.Cmdline = cmdlineOf(pid, filter)
			}
			now = append(now, p)
			if !seen[pid] {
				seen[pid] = true
				found = append(found, p)
			}
			killChecked(pid, func() bool { _, ok := want(pid); return ok })
		}
		if len(now) == 0 {
			return found, nil
		}
		if time.Now().After(deadline) {
			return found, now
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killChecked sends SIGKILL to pid if, once a pidfd holds the process, still(), so that a pid reused
// by an unrelated process since it was found is never killed. Without pidfds (Linux before 5.3,
// or a seccomp filter) it checks and kills by pid.
func killChecked(pid int, still func() bool) {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	switch errno {
	case 0:
	case syscall.ESRCH:
		return // gone already
	default: // no pidfds: an old kernel, or a seccomp filter that refuses them
		if still() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return
	}
	defer syscall.Close(int(fd))
	if !still() {
		return
	}
	_, _, _ = syscall.Syscall6(sysPidfdSendSignal, fd, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
}

// SweepOrphans kills the processes that an earlier run left behind: every process whose
// MarkerVar names a run that is no longer alive (RunAlive), as after a kill -9 of the suite,
// which its steps' leaders do not survive (Pdeathsig) but their children do. Processes of a
// run still going (another suite on the same machine) are left alone, and so are those that
// carry the marker this process itself inherited. It returns those it found, and any still
// alive after within; their command lines pass through filter (Cmd.Filter: redact.Redactor.Writer).
func SweepOrphans(within time.Duration, filter func(io.Writer) io.WriteCloser) (found, left []Proc) {
	judged := map[string]bool{} // run id → alive
	return sweepOrphans(within, filter, func(id string) bool {
		run, _, _ := strings.Cut(id, "/")
		live, ok := judged[run]
		if !ok {
			live = RunAlive(id)
			judged[run] = live
		}
		return !live
	})
}

// sweepOrphans is SweepOrphans with dead judging whether the run that marked a process is gone.
func sweepOrphans(within time.Duration, filter func(io.Writer) io.WriteCloser, dead func(stepID string) bool) (found, left []Proc) {
	own := os.Getenv(MarkerVar)
	return sweep(func(pid int) (Proc, bool) {
		id := markerOf(pid)
		if id == "" || id == own {
			return Proc{}, false
		}
		return Proc{StepID: id}, dead(id)
	}, within, filter)
}

// Describe is the processes named for a reason: the first listMax, then a count of the rest.
func Describe(ps []Proc) string {
	var names []string
	for i, p := range ps {
		if i == listMax {
			names = append(names, fmt.Sprintf("and %d more", len(ps)-listMax))
			break
		}
		names = append(names, p.String())
	}
	return strings.Join(names, ", ")
}

// EscapedReason says which processes outlived a step outside its process group (Result.Escaped).
func EscapedReason(found []Proc) string {
	return fmt.Sprintf("%d process(es) outlived the step outside its process group, killed: %s", len(found), Describe(found))
}

// errEscaped is EscapedReason, with those still alive after the sweep.
func errEscaped(found, left []Proc) error {
	msg := EscapedReason(found)
	if len(left) > 0 {
		msg += fmt.Sprintf(" (%d still alive after SIGKILL: %s)", len(left), Describe(left))
	}
	return errors.New(msg)
}
