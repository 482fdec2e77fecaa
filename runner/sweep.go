package runner

// Finding a step's processes after they have left its process group. Where one can be had,
// the step's own cgroup holds them all (cgroup.go). Without one, and besides it, a step's
// processes are found by its session (the leader starts one of its own: a descendant leaves it
// only by calling setsid()), by an environment variable (MarkerVar), which every descendant
// inherits and which /proc/<pid>/environ shows, and by the step's output pipe, which only the
// step's processes hold. A daemon that calls setsid() escapes the group kill and the session,
// but it keeps the other two, unless it also scrubs its environment and closes the inherited
// descriptors, or, when the suite does not run as root, makes itself non-dumpable (prctl
// PR_SET_DUMPABLE 0 hides its environ and fds from the same user): only the cgroup finds that
// one. It cannot hang the step, though: Run stops reading a pipe still held open Grace after
// the sweep, and the step fails.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/difftrain/gpusmoke/internal/procstat"
	"github.com/difftrain/gpusmoke/redact"
)

// MarkerVar is the environment variable that marks every process of a step: Cmd.StepID, which
// the suite makes "<run id>/<section>" (see NewRunID).
const MarkerVar = "SMOKE_STEP_ID"

// Proc is a live process that a sweep found and killed.
type Proc struct {
	PID     int
	Cmdline string // its argv, space-joined, filtered (redacted) and cut to cmdlineMax bytes
	// StepID is its MarkerVar, or the step of the cgroup it was found in; "" when it was found
	// by the step's session or output pipe alone.
	StepID string
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

// NewRunID returns an id for this process's run: "<pid>.<start time>.<random>", where the start
// time is /proc/self/stat's, in clock ticks since boot. A later run reads the pid and the start
// time back to tell whether the run that marked a process is still alive (RunAlive).
func NewRunID() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	pid := os.Getpid()
	return fmt.Sprintf("%d.%d.%s", pid, procstat.StartTicks(pid), hex.EncodeToString(r[:]))
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
	return running(pid) && procstat.StartTicks(pid) == start
}

// running reports whether pid is a process that has not exited (a zombie has).
func running(pid int) bool {
	f := procstat.Fields(pid)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// pgidOf is pid's process group, or 0 if unknown.
func pgidOf(pid int) int { return statInt(pid, 2) }

// sessionOf is pid's session, or 0 if unknown.
func sessionOf(pid int) int { return statInt(pid, 3) }

func ppidOf(pid int) int { return statInt(pid, 1) }

// statInt is field i of procstat.Fields(pid) as a number, or 0 if unknown.
func statInt(pid, i int) int {
	f := procstat.Fields(pid)
	if len(f) <= i {
		return 0
	}
	n, _ := strconv.Atoi(f[i])
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

// pidsAhead is how many pids above the highest one listed in /proc a look also tries.
const pidsAhead = 64

// family is what one sweep looks for.
type family struct {
	// want selects a process of the family anywhere in /proc, and names it.
	want func(pid int) (Proc, bool)
	// cgs are cgroups whose every process is of the family, named as want names it, or else
	// with the cgroup's step id.
	cgs []*stepCgroup
	// quiet, when set, selects the processes that are killed but not named (the members of a
	// step's own process group, which its end killed already).
	quiet func(pid int) bool
	// filter, when set, redacts a found process's command line before it is cut (cmdlineOf).
	filter func(io.Writer) io.WriteCloser
}

// sweep kills, with SIGKILL, every live process of the family fam, never this process or its
// ancestors. The cgroups are frozen first, so that nothing in them forks or runs meanwhile, then
// killed whole. A process found in /proc dies with its process group, all at once, when every
// member of the group is of the family, so that a family that forks a new pid faster than a look
// can see it cannot outrun the kill. The sweep looks again until two looks in a row find nothing
// and every cgroup is empty; it gives up after within. It returns each process it named once, in
// the order found, and those still alive when it gave up (a process in uninterruptible sleep dies
// only when it wakes).
func sweep(fam family, within time.Duration) (found, left []Proc) {
	deadline := time.Now().Add(within)
	spare := ancestors()
	spareGroups := map[int]bool{}
	for pid := range spare {
		spareGroups[pgidOf(pid)] = true
	}
	for _, g := range fam.cgs {
		g.freeze()
	}
	seen := map[int]bool{}
	for empty := 0; ; {
		live, named := fam.look(spare, spareGroups)
		for _, p := range named {
			if !seen[p.PID] {
				seen[p.PID] = true
				found = append(found, p)
			}
		}
		if live == 0 && !fam.populated() {
			if empty++; empty == 2 {
				return found, nil
			}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		empty = 0
		if time.Now().After(deadline) {
			return found, named
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// populated reports whether a process is left in one of fam's cgroups.
func (fam family) populated() bool {
	for _, g := range fam.cgs {
		if g.populated() {
			return true
		}
	}
	return false
}

// look is one look of a sweep: it kills each live process of the family it sees, and returns
// how many it saw and those of them that are named.
func (fam family) look(spare, spareGroups map[int]bool) (live int, named []Proc) {
	add := func(pid int, p Proc) {
		live++
		if fam.quiet == nil || !fam.quiet(pid) {
			p.PID = pid
			if p.Cmdline == "" {
				p.Cmdline = cmdlineOf(pid, fam.filter)
			}
			named = append(named, p)
		}
	}
	inCgroup := map[int]bool{}
	for _, g := range fam.cgs {
		for _, pid := range g.procs() {
			if spare[pid] || inCgroup[pid] || !running(pid) {
				continue
			}
			inCgroup[pid] = true
			p, _ := fam.want(pid)
			if p.StepID == "" {
				p.StepID = g.stepID
			}
			add(pid, p)
		}
		g.kill()
	}
	fam.lookProc(spare, spareGroups, inCgroup, add)
	return live, named
}

// lookProc is the part of a look that goes through /proc: it kills each process of the family
// that it sees outside the cgroups (add counts and names it), and the process group of each,
// all at once, when no member of the group is seen that is not of the family.
func (fam family) lookProc(spare, spareGroups, inCgroup map[int]bool, add func(int, Proc)) {
	var mine []int
	ours := map[int]bool{}    // process group → a member is of the family
	others := map[int][]int{} // process group → its members that are not
	for _, pid := range newestFirst() {
		if spare[pid] || inCgroup[pid] || !running(pid) {
			continue
		}
		p, ok := fam.member(pid)
		g := pgidOf(pid)
		if !ok {
			others[g] = append(others[g], pid)
			continue
		}
		add(pid, p)
		mine = append(mine, pid)
		ours[g] = true
	}
	for _, pid := range mine {
		procstat.KillChecked(pid, func() bool { _, ok := fam.member(pid); return ok })
	}
	for g := range ours {
		// A member that was exiting when it was looked at (its memory, and so its marker, gone
		// already) is no reason to spare the group.
		if g <= 0 || spareGroups[g] || slices.ContainsFunc(others[g], func(pid int) bool {
			_, ok := fam.member(pid)
			return !ok && running(pid) && pgidOf(pid) == g && !exiting(pid)
		}) {
			continue
		}
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
}

// newestFirst lists the processes in /proc, the most recently started first as far as pids tell:
// the pidsAhead pids the kernel gives next, then back from the last one it gave (/proc/loadavg),
// across a wrap, so that a process that forks and exits over and over is looked at while it
// lives.
func newestFirst() []int {
	pids := allPids()
	f := strings.Fields(readString("/proc/loadavg"))
	last := 0
	if len(f) == 5 {
		last, _ = strconv.Atoi(f[4])
	}
	if last <= 0 {
		slices.SortFunc(pids, func(a, b int) int { return b - a })
		return pids
	}
	behind := func(pid int) int {
		if pid <= last {
			return last - pid
		}
		return last + pidWrap - pid
	}
	slices.SortFunc(pids, func(a, b int) int { return behind(a) - behind(b) })
	ahead := make([]int, 0, pidsAhead+len(pids))
	for pid := last + pidsAhead; pid > last; pid-- {
		ahead = append(ahead, pid)
	}
	return append(ahead, pids...)
}

// pidWrap is above the largest pid_max Linux allows (2^22).
const pidWrap = 1<<22 + 1

// readString is the file at p, or "".
func readString(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// exiting reports whether pid is gone, or exiting: its memory, and so its environment, gone.
func exiting(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	n, err := f.Read(make([]byte, 1))
	return n == 0 && (err == nil || err == io.EOF)
}

// member is want for a process, and never for the id of a thread that does not lead its
// process: /proc resolves those too, though it lists only processes, and a thread's fd and
// environ there are its process's. The pids newestFirst tries ahead reach the threads a process
// starts meanwhile, the sweeping process's own among them, which hold the step's pipe.
func (fam family) member(pid int) (Proc, bool) {
	p, ok := fam.want(pid)
	return p, ok && procstat.Leader(pid)
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
	cgs := orphanCgroups(dead)
	found, left = sweep(family{want: func(pid int) (Proc, bool) {
		id := markerOf(pid)
		if id == "" || id == own {
			return Proc{}, false
		}
		return Proc{StepID: id}, dead(id)
	}, cgs: cgs, filter: filter}, within)
	for _, g := range cgs {
		_ = g.remove() // one still populated is left to the next run
	}
	return found, left
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
