// Package runner runs one step's command as the runbook demands: from an argv in the workspace, in its own process group, with a timeout, its whole output kept in a log and streamed live.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"syscall"
	"time"
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
	Err    error // nil when the command ran and exited 0
	Bytes  int64 // bytes of output logged
}

// Run starts c and waits for it, its whole process group and its output. It never retries.
func Run(ctx context.Context, c Cmd) Result {
	start := time.Now()
	res := Result{ExitCode: -1}
	fail := func(err error) Result {
		res.Err, res.Duration = err, time.Since(start)
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
	var logw io.Writer = logf
	closeFilter := func() error { return nil }
	if c.Filter != nil {
		fw := c.Filter(logf)
		logw, closeFilter = fw, fw.Close
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("pipe: %w", err))
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Dir, cmd.Env = c.Dir, c.Env
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		fmt.Fprintf(logw, "start %s: %v\n", c.Argv[0], err)
		closeFilter()
		return fail(fmt.Errorf("start %s: %w", c.Argv[0], err))
	}
	pw.Close() // the child holds the only write ends now
	pgid := cmd.Process.Pid

	var ls *lineStreamer
	stopBeat := func() {}
	if c.Stream != nil {
		ls = &lineStreamer{w: c.Stream, prefix: c.Prefix, start: start, shown: start}
		every := c.Heartbeat
		if every <= 0 {
			every = DefaultHeartbeat
		}
		stopBeat = ls.heartbeat(every)
	}
	copied := make(chan int64, 1)
	go func() {
		copied <- copyOut(pr, logw, ls)
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-timeout:
		res.TimedOut = true
		waitErr = stop(pgid, exited)
	case <-ctx.Done():
		res.Interrupted = true
		waitErr = stop(pgid, exited)
	}
	// Whatever the leader did, no descendant outlives the step: they would hold the pipe open
	// and keep running on the GPU.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res.Bytes = <-copied
	stopBeat()
	pr.Close()
	res.Duration = time.Since(start)

	var ee *exec.ExitError
	switch {
	case res.TimedOut:
		res.Err = fmt.Errorf("timed out after %s", c.Timeout)
	case res.Interrupted:
		res.Err = fmt.Errorf("interrupted after %s", res.Duration.Round(time.Second))
	case errors.As(waitErr, &ee):
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
			res.Err = fmt.Errorf("killed by signal %d (%s)", int(res.Signal), SignalName(res.Signal))
		} else {
			res.Err = fmt.Errorf("exit status %d", res.ExitCode)
		}
	case waitErr != nil:
		res.Err = waitErr
	default:
		res.ExitCode = 0
	}
	if res.Err != nil && (res.TimedOut || res.Interrupted) {
		fmt.Fprintf(logw, "\n[smoke] %s: %v; process group %d killed\n", c.Prefix, res.Err, pgid)
	}
	if err := closeFilter(); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("write log %s: %w", c.Log, err)
	}
	if err := logf.Sync(); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("write log %s: %w", c.Log, err)
	}
	return res
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

// stop ends a process group: SIGTERM, then SIGKILL after Grace.
func stop(pgid int, exited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-exited:
		return err
	case <-time.After(Grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-exited
	}
}

// copyOut copies r to log byte for byte and, bounded, line by line to ls (which may be nil).
func copyOut(r io.Reader, log io.Writer, ls *lineStreamer) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	logOK := true
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(k)
			if logOK {
				if _, werr := log.Write(buf[:k]); werr != nil {
					logOK = false // keep draining so the step is not blocked on a full pipe
				}
			}
			if ls != nil {
				ls.write(buf[:k])
			}
		}
		if err != nil {
			break
		}
	}
	if ls != nil {
		ls.flush(n)
	}
	return n
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

func (l *lineStreamer) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total += int64(len(p))
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		room := streamLineMax - len(l.line)
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
		s := strings.ToValidUTF8(strings.TrimRight(string(l.line), "\r"), "\uFFFD")
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
