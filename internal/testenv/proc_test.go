package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func startSleep(t *testing.T) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd, done
}

// A Proc is killed while its pid is the process learned, and never once the pid has another
// start time: the process it names now is not the one the test learned.
func TestKillOnlyTheProcessLearned(t *testing.T) {
	cmd, done := startSleep(t)
	p := Learn(cmd.Process.Pid)
	if !p.Alive() {
		t.Fatalf("%+v: a running sleep is not alive", p)
	}
	other := p
	other.Start++ // the same pid, given to another process since
	other.Kill()
	Proc{PID: p.PID}.Kill() // learned after it was gone
	select {
	case <-done:
		t.Fatal("a process with another start time was killed")
	case <-time.After(200 * time.Millisecond):
	}
	p.Kill()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the process learned was not killed")
	}
	if p.Alive() {
		t.Fatal("a reaped process is alive")
	}
}

// WatchPids learns a pid as it appears in the file, and kills it when the test ends.
func TestWatchPids(t *testing.T) {
	cmd, done := startSleep(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	t.Run("watched", func(t *testing.T) {
		WatchPids(t, pidFile)
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watched process outlived the test")
	}
}
