// Package runner runs one step's command as the runbook demands: from an argv in the workspace, in its own process group, with a timeout, its whole output kept in a log and streamed live.
package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/difftrain/gpusmoke/internal/printable"
)

// DefaultHeartbeat is the longest silence on the live stream while a step runs.
const DefaultHeartbeat = 30 * time.Second

// Grace is how long a step's process group has between SIGTERM and SIGKILL.
const Grace = 2 * time.Second

// Stream limits keep the live terminal output (and whoever buffers it, such as gotestsum) bounded,
// however much a step prints. The log file always receives every byte.
const (
	streamLineMax  = 400  // bytes of one line shown live
	streamLinesMax = 2000 // lines shown live; later output is in the log only
	// streamLookahead is how much of a line is kept beyond what is shown when Cmd.Redact is
	// set, so that a secret that starts in the shown part reaches Redact whole (a private key's
	// block is at most 16 KiB, a token far less).
	streamLookahead = 20 << 10
)

// Cmd is one command to run.
type Cmd struct {
	Argv    []string
	Dir     string        // working directory: the workspace
	Env     []string      // the full environment; nil means os.Environ()
	Timeout time.Duration // 0 means none
	Log     string        // file that receives the full stdout and stderr
	// Stream receives the output live, each line prefixed with Prefix and the elapsed time. May be nil.
	Stream io.Writer
	Prefix string
	// Heartbeat is how long the live stream may stay silent before a "still running" line;
	// 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// Filter wraps the log writer, for example to redact secrets. May be nil.
	Filter func(io.Writer) io.WriteCloser
	// Redact, when set, rewrites each whole line of the live stream (without its newline)
	// before the line is cut to what is shown, so that no secret is cut in two and half of it
	// shown. It may keep state from line to line (redact.Redactor.Lines): give each Cmd its own.
	Redact func(line []byte) []byte
	// StepID, when set, marks the command's environment with MarkerVar=StepID, so that its
	// processes are found after they leave its process group (see Result.Escaped).
	StepID string
}

// Result is how a command ended.
type Result struct {
	ExitCode    int // -1 when the process did not exit by itself
	Duration    time.Duration
	TimedOut    bool
	Interrupted bool // the context was cancelled (Ctrl-C or SIGTERM to the suite)
	// Signal is the signal that killed the command's leader by itself (not on a timeout or an
	// interrupt), or 0.
	Signal syscall.Signal
	// Err is nil when the command ran, exited 0 and left no process running; otherwise it says
	// how the leader ended (Ended) and names the processes that escaped (Escaped).
	Err error
	// Ended is how the command's leader ended: nil when it exited 0.
	Ended error
	// Escaped are the processes that were still running outside the command's process group
	// when it ended (a daemon that called setsid, say), found by the MarkerVar in their
	// environment or by the command's output pipe they held open. All were killed.
	Escaped []Proc
	// HeldOpen, when set, says that the output pipe was still held open Grace after the sweep,
	// by a process no sweep could find (another user's, or a non-dumpable one of a suite that
	// does not run as root, outside the step's cgroup and session): the step cannot pass.
	HeldOpen string
	// Cgroup is the step's cgroup v2 while it ran, "" when it had none (StepCgroups says why).
	Cgroup string
	Bytes  int64 // bytes of output logged
	// LogErr is the first error writing the log (a full disk, say): the step's output from then
	// on is lost, so the step cannot pass. Err says so when nothing else failed first.
	LogErr error
	// LogSHA256 and LogSize are the hex sha256 and the size of what Run wrote to the log, so
	// that a log another process wrote to while the step ran is told from it.
	LogSHA256 string
	LogSize   int64
}

// Run starts c and waits for it, its whole process group and its output. It never retries.
//
// The leader starts in a new session (and so a new process group of its own) and, where one can
// be had (StepCgroups), in a new cgroup v2 of its own. Whatever the command does, Run returns
// within its timeout plus 4×Grace at most: SIGTERM, SIGKILL after Grace, Grace for the leader to
// go; then its cgroup is frozen and its group killed, then every process of the step outside the
// group (Result.Escaped: in its cgroup, in its session, carrying its marker or holding its output
// pipe) is killed, looking again for at most Grace until the cgroup is empty, and the output is
// read for at most Grace more. The leader also dies with the process that runs it (Pdeathsig),
// so a kill -9 of the suite orphans no leader; its children, and its cgroup, are left to
// SweepOrphans in the next run.
func Run(ctx context.Context, c Cmd) Result {
	start := time.Now()
	res := Result{ExitCode: -1}
	fail := func(err error) Result {
		res.Err, res.Ended, res.Duration = err, err, time.Since(start)
		return res
	}
	if len(c.Argv) == 0 {
		return fail(errors.New("empty command"))
	}
	if err := os.MkdirAll(filepath.Dir(c.Log), 0o755); err != nil {
		return fail(fmt.Errorf("create log dir: %w", err))
	}
	logf, err := os.Create(c.Log)
	if err != nil {
		return fail(fmt.Errorf("create log: %w", err))
	}
	defer logf.Close()
	wb := newWriteBehind(logf)
	var logw io.Writer = wb
	closeFilter := func() error { return nil }
	if c.Filter != nil {
		fw := c.Filter(logw)
		logw, closeFilter = fw, fw.Close
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("pipe: %w", err))
	}
	pipe := pipeLink(pr)
	growPipe(pr)
	l, err := startLeader(c, pw)
	pw.Close() // the child holds the only write ends now
	if err != nil {
		pr.Close()
		fmt.Fprintf(logw, "start %s: %v\n", c.Argv[0], err)
		closeFilter()
		res.LogSHA256, res.LogSize = wb.sum()
		return fail(fmt.Errorf("start %s: %w", c.Argv[0], err))
	}
	if l.cg != nil {
		res.Cgroup = l.cg.dir
	} else if l.uncgrouped != nil {
		fmt.Fprintf(logw, "[smoke] %s: started without a cgroup of its own: %v\n", c.Prefix, l.uncgrouped)
	}

	ls, stopBeat := c.streamer(start)
	copied := make(chan copyResult, 1)
	go func() { copied <- copyOut(pr, logw, ls) }()

	waitErr := l.wait(ctx, c.Timeout, &res)
	found, left := l.end(c.StepID, pipe, c.Filter)
	cr := drain(pr, copied, &res)
	res.Bytes, res.LogErr = cr.n, cr.logErr
	stopBeat()
	pr.Close()
	res.Duration = time.Since(start)
	res.judge(c, waitErr, l.pgid, found, left, logw)
	for _, err := range []error{closeFilter(), logf.Sync()} {
		if res.LogErr == nil {
			res.LogErr = err
		}
	}
	res.LogSHA256, res.LogSize = wb.sum()
	if res.LogErr != nil {
		res.LogErr = fmt.Errorf("write log %s: %w", c.Log, res.LogErr)
		if res.Err == nil {
			res.Err = res.LogErr
		}
	}
	return res
}

// drain waits for the copy of the step's output to end, for at most Grace once the step has
// ended: a process no sweep can see (another user's, say) may still hold the pipe, and then
// reading stops (res.HeldOpen), so that the step's timeout holds whatever its processes do with
// their pipes.
func drain(pr *os.File, copied <-chan copyResult, res *Result) copyResult {
	select {
	case cr := <-copied:
		return cr
	case <-time.After(Grace):
		pr.Close()
		res.HeldOpen = fmt.Sprintf("the output pipe was still open %s after the step ended, held by a process that could not be found; stopped reading it", Grace)
		return <-copied
	}
}

// streamer is the live stream of c's output, with its heartbeat started, and the func that
// stops the heartbeat; nil when c has no Stream.
func (c Cmd) streamer(start time.Time) (*lineStreamer, func()) {
	if c.Stream == nil {
		return nil, func() {}
	}
	ls := &lineStreamer{w: c.Stream, prefix: c.Prefix, start: start, shown: start, redact: c.Redact}
	every := c.Heartbeat
	if every <= 0 {
		every = DefaultHeartbeat
	}
	return ls, ls.heartbeat(every)
}

// leader is a started step: its leader's pid, which is also its session and process group, the
// leader's exit, and the step's cgroup (nil when it has none).
type leader struct {
	pgid   int
	exited chan error
	cg     *stepCgroup
	// uncgrouped is why the leader could not start in its cgroup, when it started without.
	uncgrouped error
}

// startLeader starts c's leader with out as its stdout and stderr, in a new session, and, when c
// has a StepID, in a new cgroup where one can be had. A kernel that cannot start a process in a
// cgroup (before Linux 5.7) gets it started without one.
func startLeader(c Cmd, out *os.File) (*leader, error) {
	command := func(cg *stepCgroup) *exec.Cmd {
		cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
		cmd.Dir, cmd.Env = c.Dir, c.Env
		if c.StepID != "" {
			env := c.Env
			if env == nil {
				env = os.Environ()
			}
			cmd.Env = append(slices.Clone(env), MarkerVar+"="+c.StepID) // the last one wins
		}
		cmd.Stdin = nil
		cmd.Stdout, cmd.Stderr = out, out
		// Pdeathsig: the kernel sends the leader SIGKILL when the thread that started it ends,
		// so the leader dies with the suite however the suite dies (kill -9, go test's
		// -timeout). It is tied to the creating thread, not the process (go.dev/issue/27505),
		// and a Go thread ends when a goroutine exits while locked to it: so the goroutine that
		// starts the leader stays locked to its thread until the leader has been waited for,
		// and no other goroutine can run on that thread, let alone end it, meanwhile.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
		if cg != nil {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cg.fd
		}
		return cmd
	}
	l := &leader{exited: make(chan error, 1)}
	if c.StepID != "" {
		l.cg, _ = newStepCgroup(c.StepID) // none: the step runs without (StepCgroups says why)
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cmd := command(l.cg)
		err := cmd.Start()
		if err != nil && l.cg != nil {
			_ = l.cg.remove()
			l.cg, l.uncgrouped = nil, err
			cmd = command(nil)
			err = cmd.Start()
		}
		if err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		l.pgid = cmd.Process.Pid
		started <- nil
		err = cmd.Wait()
		runtime.UnlockOSThread() // the leader is reaped: the thread may end now
		l.exited <- err
	}()
	return l, <-started
}

// wait waits for the leader to exit, for the timeout, or for ctx; on a timeout or ctx, it stops
// the leader's group and marks res. It returns the leader's exit.
func (l *leader) wait(ctx context.Context, limit time.Duration, res *Result) error {
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-l.exited:
		return err
	case <-timeout:
		res.TimedOut = true
	case <-ctx.Done():
		res.Interrupted = true
	}
	return stop(l.pgid, l.exited)
}

// end kills whatever is left of the step, whatever its leader did: no descendant outlives the
// step, for it would hold the pipe open and keep running on the GPU. The cgroup is frozen, the
// group killed, then every other process of the step (its cgroup, its session, its marker, its
// pipe) is killed and named, and the cgroup removed once empty (one that cannot be emptied is
// left to the next run's SweepOrphans).
func (l *leader) end(stepID, pipe string, filter func(io.Writer) io.WriteCloser) (found, left []Proc) {
	fam := family{
		filter: filter,
		want: func(pid int) (Proc, bool) {
			marked := stepID != "" && markerOf(pid) == stepID
			if !marked && sessionOf(pid) != l.pgid && (pipe == "" || !holds(pid, pipe)) {
				return Proc{}, false
			}
			p := Proc{}
			if marked {
				p.StepID = stepID
			}
			return p, true
		},
		quiet: func(pid int) bool { return pgidOf(pid) == l.pgid }, // the group's members have their SIGKILL
	}
	if l.cg != nil {
		fam.cgs = []*stepCgroup{l.cg}
		l.cg.freeze()
	}
	_ = syscall.Kill(-l.pgid, syscall.SIGKILL)
	found, left = sweep(fam, Grace)
	if l.cg != nil {
		_ = l.cg.remove() // fails while a process is left in it, which the next run's sweep finds
	}
	return found, left
}

// judge fills in how the step ended from the leader's exit and what the sweep found, and says so
// in the log.
func (res *Result) judge(c Cmd, waitErr error, pgid int, found, left []Proc, logw io.Writer) {
	var ee *exec.ExitError
	switch {
	case res.TimedOut:
		res.Ended = fmt.Errorf("timed out after %s", c.Timeout)
	case res.Interrupted:
		res.Ended = fmt.Errorf("interrupted after %s", res.Duration.Round(time.Second))
	case errors.As(waitErr, &ee):
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
			res.Ended = fmt.Errorf("killed by signal %d (%s)", int(res.Signal), SignalName(res.Signal))
		} else {
			res.Ended = fmt.Errorf("exit status %d", res.ExitCode)
		}
	case waitErr != nil:
		res.Ended = waitErr
	default:
		res.ExitCode = 0
	}
	res.Err = res.Ended
	if res.Ended != nil && (res.TimedOut || res.Interrupted) {
		fmt.Fprintf(logw, "\n[smoke] %s: %v; process group %d killed\n", c.Prefix, res.Ended, pgid)
		if errors.Is(waitErr, errStuck) {
			fmt.Fprintf(logw, "[smoke] %s: %v\n", c.Prefix, waitErr)
		}
	}
	var outlived []string
	if len(found) > 0 {
		res.Escaped = found
		esc := errEscaped(found, left)
		fmt.Fprintf(logw, "\n[smoke] %s: %v\n", c.Prefix, esc)
		outlived = append(outlived, esc.Error())
	}
	if res.HeldOpen != "" {
		fmt.Fprintf(logw, "\n[smoke] %s: %s\n", c.Prefix, res.HeldOpen)
		outlived = append(outlived, res.HeldOpen)
	}
	switch {
	case len(outlived) == 0:
	case res.Ended == nil:
		res.Err = fmt.Errorf("exited 0, but %s", strings.Join(outlived, "; "))
	default:
		res.Err = fmt.Errorf("%v; %s", res.Ended, strings.Join(outlived, "; "))
	}
}

// SignalName is a signal's conventional name, e.g. SIGKILL.
func SignalName(sig syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT",
		syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGHUP: "SIGHUP",
		syscall.SIGFPE: "SIGFPE", syscall.SIGILL: "SIGILL", syscall.SIGPIPE: "SIGPIPE", syscall.SIGQUIT: "SIGQUIT"}
	if n, ok := names[sig]; ok {
		return n
	}
	return sig.String()
}

// stop ends a process group: SIGTERM, then SIGKILL after Grace. A leader that SIGKILL does not
// end within Grace more (uninterruptible sleep, in a driver call say) is left to die when it wakes.
func stop(pgid int, exited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-exited:
		return err
	case <-time.After(Grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case err := <-exited:
		return err
	case <-time.After(Grace):
		return fmt.Errorf("%w: pid %d still running %s after SIGKILL", errStuck, pgid, Grace)
	}
}

// errStuck is a leader that SIGKILL did not end in time.
var errStuck = errors.New("leader not ended")

// copyResult is what copyOut read, and its first error writing the log.
type copyResult struct {
	n      int64
	logErr error
}

// Output copy sizes: copyOut reads the step's pipe in readChunk pieces into copyBuffers
// buffers, so that reading the pipe overlaps writing (and redacting) the log; the pipe itself
// is grown to pipeSize where the kernel allows, so that a step printing fast wakes this side
// less often. At most copyBuffers×readChunk bytes are in flight, whatever the step prints
// (docs/benchmarks.md: a step that prints 1 GiB).
const (
	readChunk   = 256 << 10
	copyBuffers = 4
	pipeSize    = 1 << 20
)

// growPipe asks the kernel for a pipe of pipeSize bytes (F_SETPIPE_SZ); where it refuses (a
// user over its pipe quota, an older kernel) the pipe keeps its size: only speed depends on it.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETPIPE_SZ, pipeSize)
		})
	}
}

// writeBehind writes to the log and has the kernel start writing each writeBehindChunk to disk
// as soon as it is written (sync_file_range), so that the log's fsync at the end of the step
// finds little left to write, however much the step printed. Only speed depends on it: a file
// system that refuses it is written as before.
type writeBehind struct {
	f            *os.File
	h            hash.Hash // of every byte written
	off, started int64
	unsupported  bool
}

const (
	writeBehindChunk   = 8 << 20
	syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE: start the writes, wait for none
)

func newWriteBehind(f *os.File) *writeBehind { return &writeBehind{f: f, h: sha256.New()} }

// sum is the hex sha256 and the size of what was written.
func (w *writeBehind) sum() (string, int64) { return hex.EncodeToString(w.h.Sum(nil)), w.off }

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.off += int64(n)
	if !w.unsupported && w.off-w.started >= writeBehindChunk {
		// An error here is left to the final fsync to report, as it would have been.
		if syscall.SyncFileRange(int(w.f.Fd()), w.started, w.off-w.started, syncFileRangeWrite) != nil {
			w.unsupported = true
		}
		w.started = w.off
	}
	return n, err
}

// copyOut copies r to log byte for byte and, bounded, line by line to ls (which may be nil).
// One goroutine reads r while this one writes what it read, in order, so that reading the
// pipe overlaps writing (and redacting) the log.
func copyOut(r io.Reader, log io.Writer, ls *lineStreamer) copyResult {
	free := make(chan []byte, copyBuffers)
	for range copyBuffers {
		free <- make([]byte, readChunk)
	}
	full := make(chan []byte, copyBuffers)
	go func() {
		defer close(full)
		for {
			buf := <-free
			k, err := r.Read(buf)
			if k > 0 {
				full <- buf[:k]
			} else {
				free <- buf
			}
			if err != nil {
				return
			}
		}
	}()
	var res copyResult
	for b := range full {
		res.n += int64(len(b))
		if res.logErr == nil {
			if _, werr := log.Write(b); werr != nil {
				res.logErr = werr // keep draining so the step is not blocked on a full pipe
			}
		}
		if ls != nil {
			ls.write(b)
		}
		free <- b[:cap(b)]
	}
	if ls != nil {
		ls.flush(res.n)
	}
	return res
}

// lineStreamer writes complete lines, cut to streamLineMax, until streamLinesMax lines, and a
// heartbeat line whenever the stream has been silent too long.
type lineStreamer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	start  time.Time
	line   []byte
	cut    int // bytes dropped from the current line
	redact func([]byte) []byte
	lines  int
	total  int64     // bytes seen
	shown  time.Time // when the stream last showed a line
}

// heartbeat starts the "still running" lines; the returned func stops them.
func (l *lineStreamer) heartbeat(every time.Duration) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				l.mu.Lock()
				if now.Sub(l.shown) >= every {
					fmt.Fprintf(l.w, "[%s %s] … still running, %d bytes logged\n", l.prefix, elapsed(l.start), l.total)
					l.shown = now
				}
				l.mu.Unlock()
			}
		}
	}()
	return func() { close(done) }
}

var newline = []byte{'\n'}

func (l *lineStreamer) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total += int64(len(p))
	for len(p) > 0 {
		if l.lines >= streamLinesMax {
			// Nothing more is shown: the lines are only counted, for the last line's total
			// (a step that prints a GiB spends no time here line by line).
			if n := bytes.Count(p, newline); n > 0 {
				l.lines += n
				l.line, l.cut = l.line[:0], len(p)-1-bytes.LastIndexByte(p, '\n')
			} else {
				l.cut += len(p)
			}
			return
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		keep := streamLineMax
		if l.redact != nil {
			keep += streamLookahead
		}
		room := keep - len(l.line)
		if room > len(chunk) {
			room = len(chunk)
		}
		l.line = append(l.line, chunk[:room]...)
		l.cut += len(chunk) - room
		if i < 0 {
			return
		}
		l.emit()
		p = p[i+1:]
	}
}

func (l *lineStreamer) emit() {
	l.lines++
	switch {
	case l.lines < streamLinesMax:
		line := bytes.TrimRight(l.line, "\r")
		if l.redact != nil {
			line = l.redact(line)
		}
		// What a terminal would show of a line that a carriage return rewrote (a progress bar),
		// then every control character made visible: a ^V would start a line for test2json.
		if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
			l.cut += i + 1
			line = line[i+1:]
		}
		if len(line) > streamLineMax {
			l.cut += len(line) - streamLineMax
			line = line[:streamLineMax]
		}
		s := printable.String(strings.ToValidUTF8(string(line), "\uFFFD"))
		if l.cut > 0 {
			s += fmt.Sprintf(" …[%d bytes in the log]", l.cut)
		}
		fmt.Fprintf(l.w, "[%s %s] %s\n", l.prefix, elapsed(l.start), s)
		l.shown = time.Now()
	case l.lines == streamLinesMax:
		fmt.Fprintf(l.w, "[%s %s] … further output goes to the log only\n", l.prefix, elapsed(l.start))
		l.shown = time.Now()
	}
	l.line, l.cut = l.line[:0], 0
}

func (l *lineStreamer) flush(total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.line) > 0 || l.cut > 0 {
		l.emit()
	}
	if l.lines >= streamLinesMax {
		fmt.Fprintf(l.w, "[%s %s] %d lines, %d bytes in all\n", l.prefix, elapsed(l.start), l.lines, total)
	}
}

func elapsed(start time.Time) string {
	return fmt.Sprintf("+%.1fs", time.Since(start).Seconds())
}
