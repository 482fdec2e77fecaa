package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/internal/testenv"
)

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func run(t *testing.T, ctx context.Context, c Cmd) (Result, string, string) {
	t.Helper()
	dir := t.TempDir()
	if c.Log == "" {
		c.Log = filepath.Join(dir, "logs", "04-train.log")
	}
	if c.Dir == "" {
		c.Dir = dir
	}
	var stream bytes.Buffer
	c.Stream, c.Prefix = &stream, "04-train"
	res := Run(ctx, c)
	log, err := os.ReadFile(c.Log)
	require.NoError(t, err)
	return res, string(log), stream.String()
}

func TestExitCodesAndLog(t *testing.T) {
	type testCase struct {
		name     string
		script   string
		code     int
		err      string
		log      string
		streamed string
	}
	run1 := func(t *testing.T, tc testCase) {
		res, log, stream := run(t, context.Background(), Cmd{Argv: sh(tc.script)})
		require.Equal(t, tc.code, res.ExitCode)
		if tc.err == "" {
			require.NoError(t, res.Err)
		} else {
			require.EqualError(t, res.Err, tc.err)
		}
		require.Equal(t, tc.log, log)
		require.Contains(t, stream, tc.streamed)
		require.Equal(t, int64(len(tc.log)), res.Bytes)
	}
	for _, tc := range []testCase{
		{name: "ok", script: "echo out; echo err >&2", log: "out\nerr\n", streamed: "] err\n"},
		{name: "exit 3", script: "echo boom >&2; exit 3", code: 3, err: "exit status 3", log: "boom\n", streamed: "[04-train +"},
		{name: "no newline", script: "printf tail", log: "tail", streamed: "] tail\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { run1(t, tc) })
	}
}

func TestRunsInDirWithEnv(t *testing.T) {
	dir := t.TempDir()
	res, log, _ := run(t, context.Background(), Cmd{Argv: sh("pwd; echo $SMOKE_X"), Dir: dir, Env: []string{"SMOKE_X=42", "PATH=/usr/bin:/bin"}})
	require.NoError(t, res.Err)
	require.Equal(t, dir+"\n42\n", log)
}

func TestStartFailureIsLogged(t *testing.T) {
	res, log, _ := run(t, context.Background(), Cmd{Argv: []string{"/nonexistent/python"}})
	require.ErrorContains(t, res.Err, "start /nonexistent/python")
	require.Equal(t, -1, res.ExitCode)
	require.Contains(t, log, "start /nonexistent/python")
}

// requireDies waits for pid to be gone. A SIGKILL is delivered asynchronously: the process may
// still be running for a moment after Run returns, longer on a busy machine.
func requireDies(t *testing.T, pid int) {
	t.Helper()
	p := testenv.Learn(pid)
	t.Cleanup(func() { // a failed check leaves no process behind
		if t.Failed() {
			p.Kill()
		}
	})
	require.Eventually(t, func() bool { return !p.Alive() }, 5*time.Second, 10*time.Millisecond, "pid %d survived", pid)
}

// groupMembers returns the live (not zombie) processes of process group pgid.
func groupMembers(pgid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone since the glob
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, pgrp, ...
		if len(f) < 3 || f[0] == "Z" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childPids reads the pids a script wrote, one per line.
func childPids(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, p)
	}
	require.NotEmpty(t, pids)
	return pids
}

// A hung step, with a child that ignores SIGTERM, is killed at its timeout with its whole group.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	script := fmt.Sprintf(`sh -c 'trap "" TERM; echo $$ >> %[1]s; sleep 300' & echo $$ >> %[1]s; echo started; sleep 300`, pids)
	res, log, _ := run(t, context.Background(), Cmd{Argv: sh(script), Timeout: 500 * time.Millisecond})
	require.True(t, res.TimedOut)
	require.EqualError(t, res.Err, "timed out after 500ms")
	require.Contains(t, log, "started\n")
	require.Contains(t, log, "timed out after 500ms; process group")
	for _, pid := range childPids(t, pids) {
		requireDies(t, pid)
	}
}

// A leader that ignores SIGTERM, as a hung training loop can, gets SIGKILL after Grace: the step
// ends within its timeout plus Grace, and its whole group with it.
func TestTimeoutKillsALeaderThatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The sleeps inherit the ignored SIGTERM, and the loop outlives any one of them: nothing but
	// SIGKILL ends this step.
	script := fmt.Sprintf(`trap "" TERM; echo $$ > %s; echo trapped; while :; do sleep 1; done`, pidFile)
	c := Cmd{Argv: sh(script), Dir: dir, Log: filepath.Join(dir, "logs", "04-train.log"), Timeout: 500 * time.Millisecond}
	done := make(chan Result, 1)
	go func() { done <- Run(context.Background(), c) }()

	limit := c.Timeout + Grace + 5*time.Second
	var res Result
	select {
	case res = <-done:
	case <-time.After(limit):
		// Clean up before failing: kill the group, so neither it nor Run outlives the test.
		if b, err := os.ReadFile(pidFile); err == nil {
			if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-done
			}
		}
		t.Fatalf("Run did not return within timeout %s + grace %s + 5s: the leader ignores SIGTERM and was never sent SIGKILL", c.Timeout, Grace)
	}
	log, err := os.ReadFile(c.Log)
	require.NoError(t, err)
	require.Contains(t, string(log), "trapped\n", "the leader ignored SIGTERM before the timeout")
	require.True(t, res.TimedOut)
	require.False(t, res.Interrupted)
	require.Equal(t, -1, res.ExitCode)
	require.EqualError(t, res.Err, "timed out after 500ms")
	require.Contains(t, string(log), "timed out after 500ms; process group")

	pgid := childPids(t, pidFile)[0]
	t.Cleanup(func() { // a failed check leaves no process behind
		if t.Failed() && len(groupMembers(pgid)) > 0 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	require.Eventually(t, func() bool { return len(groupMembers(pgid)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"process group %d still has members", pgid)
}

func TestInterruptKillsProcessGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	script := fmt.Sprintf(`sleep 300 & echo $! >> %[1]s; echo $$ >> %[1]s; echo started; wait`, pids)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !fileHas(pids, 2) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res, log, _ := run(t, ctx, Cmd{Argv: sh(script), Timeout: time.Minute})
	require.True(t, res.Interrupted)
	require.False(t, res.TimedOut)
	require.ErrorContains(t, res.Err, "interrupted after")
	require.Contains(t, log, "started\n")
	require.Less(t, res.Duration, 5*time.Second+Grace)
	for _, pid := range childPids(t, pids) {
		requireDies(t, pid)
	}
}

func fileHas(path string, lines int) bool {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n") >= lines
}

// A step that exits 0 but leaves a background child behind does not leave it running.
func TestNoDescendantOutlivesAStep(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	script := fmt.Sprintf(`(sleep 300 >/dev/null 2>&1 & echo $! >> %s); echo done`, pids)
	res, _, _ := run(t, context.Background(), Cmd{Argv: sh(script)})
	require.NoError(t, res.Err)
	for _, pid := range childPids(t, pids) {
		requireDies(t, pid)
	}
}

// Huge, binary and invalid UTF-8 output is kept whole in the log; the live stream stays bounded.
func TestHugeOutput(t *testing.T) {
	script := `head -c 3000000 /dev/zero | tr '\0' 'x'; printf '\n\377\376bin\n'; i=0; while [ $i -lt 2500 ]; do echo line $i; i=$((i+1)); done`
	res, log, stream := run(t, context.Background(), Cmd{Argv: sh(script)})
	require.NoError(t, res.Err)
	require.Equal(t, int64(len(log)), res.Bytes)
	require.True(t, strings.HasPrefix(log, strings.Repeat("x", 3000000)+"\n\xff\xfebin\n"))
	require.True(t, strings.HasSuffix(log, "line 2499\n"))
	// Assert on booleans: a failure must not print megabytes.
	require.True(t, strings.Contains(stream, "…[2999600 bytes in the log]"))
	require.True(t, strings.Contains(stream, "] \uFFFDbin\n"))
	require.True(t, strings.Contains(stream, "further output goes to the log only"))
	require.False(t, strings.Contains(stream, "line 2499"))
	require.Less(t, len(stream), (streamLinesMax+10)*(streamLineMax+80))
}

type upper struct{ w io.Writer }

func (u upper) Write(p []byte) (int, error) { return u.w.Write(bytes.ToUpper(p)) }
func (u upper) Close() error                { _, err := u.w.Write([]byte("CLOSED\n")); return err }

func TestFilterWrapsTheLog(t *testing.T) {
	res, log, _ := run(t, context.Background(), Cmd{Argv: sh("echo secret"), Filter: func(w io.Writer) io.WriteCloser { return upper{w} }})
	require.NoError(t, res.Err)
	require.Equal(t, "SECRET\nCLOSED\n", log)
}

func TestKilledBySignal(t *testing.T) {
	res, _, _ := run(t, context.Background(), Cmd{Argv: sh("kill -9 $$")})
	require.EqualError(t, res.Err, "killed by signal 9 (SIGKILL)")
	require.Equal(t, syscall.SIGKILL, res.Signal)
}

// A silent step still shows progress: a "still running" line after each silent Heartbeat.
func TestHeartbeatOnSilence(t *testing.T) {
	res, _, stream := run(t, context.Background(), Cmd{Argv: sh("echo start; sleep 1; echo end"), Heartbeat: 300 * time.Millisecond})
	require.NoError(t, res.Err)
	require.Regexp(t, `(?s)\] start\n.*\[04-train \+0\.\ds\] … still running, 6 bytes logged\n.*\] end\n$`, stream)

	// A chatty step needs none: lines every 50 ms for 1.2 s, against a 600 ms heartbeat.
	res, _, stream = run(t, context.Background(), Cmd{Argv: sh("i=0; while [ $i -lt 24 ]; do echo $i; sleep 0.05; i=$((i+1)); done"), Heartbeat: 600 * time.Millisecond})
	require.NoError(t, res.Err)
	require.NotContains(t, stream, "still running")
}

// Past streamLinesMax the live stream only counts lines: however the output arrives in pieces
// (a newline at a piece's end or start, pieces without one, a last line without its newline),
// the stream is the same as for the output in one piece, and its last line counts every line.
func TestStreamCountsLinesPastTheCap(t *testing.T) {
	var out bytes.Buffer
	for i := range streamLinesMax + 500 {
		fmt.Fprintf(&out, "step=%d loss=0.5\n", i)
	}
	out.WriteString("\n\nno newline at the end")
	data := out.Bytes()
	lines := bytes.Count(data, []byte("\n")) + 1
	stream := func(sizes ...int) string {
		var w bytes.Buffer
		start := time.Now()
		ls := &lineStreamer{w: &w, prefix: "04-train", start: start, shown: start}
		p := data
		for i := 0; len(p) > 0; i++ {
			n := min(sizes[i%len(sizes)], len(p))
			ls.write(p[:n])
			p = p[n:]
		}
		ls.flush(int64(len(data)))
		// The elapsed times differ from run to run; the lines do not.
		return regexp.MustCompile(`\[04-train \+[0-9.]+s\]`).ReplaceAllString(w.String(), "[04-train]")
	}
	whole := stream(len(data))
	require.True(t, strings.HasSuffix(whole, fmt.Sprintf("[04-train] %d lines, %d bytes in all\n", lines, len(data))), "the last line: %q", whole[strings.LastIndexByte(whole[:len(whole)-1], '\n')+1:])
	for _, sizes := range [][]int{{1}, {7}, {17}, {18}, {19}, {4096}, {1, 18, 35, 2}} {
		require.True(t, stream(sizes...) == whole, "output in pieces of %v streams differently", sizes)
	}
}

// The log is the output byte for byte and in order, however the reads and the writes through
// a filter overlap.
func TestLogKeepsOrder(t *testing.T) {
	var want strings.Builder
	for i := 1; i <= 700000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	res, log, _ := run(t, context.Background(), Cmd{Argv: []string{"seq", "700000"}, Filter: func(w io.Writer) io.WriteCloser { return upper{w} }})
	require.NoError(t, res.Err)
	require.Equal(t, int64(want.Len()), res.Bytes)
	require.True(t, log == want.String()+"CLOSED\n", "the log differs from seq's output")
}

// writeBehind writes every byte in order, past several writeBehindChunks, on a file (where
// the kernel starts the writes early) and on a pipe (where it refuses, and the bytes still go).
func TestWriteBehind(t *testing.T) {
	var want bytes.Buffer
	for i := 0; want.Len() < 3*writeBehindChunk; i++ {
		fmt.Fprintf(&want, "step=%d loss=%d\n", i, i*7919%100003)
	}
	write := func(w io.Writer) {
		t.Helper()
		for p := want.Bytes(); len(p) > 0; {
			n := min(len(p), 70001)
			k, err := w.Write(p[:n])
			require.NoError(t, err)
			require.Equal(t, n, k)
			p = p[n:]
		}
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "04-train.log"))
	require.NoError(t, err)
	defer f.Close()
	wb := newWriteBehind(f)
	write(wb)
	require.NoError(t, f.Sync())
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	require.True(t, bytes.Equal(got, want.Bytes()), "the file differs from what was written")

	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	read := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		read <- b
	}()
	wb = newWriteBehind(pw)
	write(wb)
	require.NoError(t, pw.Close())
	require.True(t, wb.unsupported)
	require.True(t, bytes.Equal(<-read, want.Bytes()), "the pipe got other bytes than were written")
}
