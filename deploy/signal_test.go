package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/internal/testenv"
)

var hangChild = regexp.MustCompile(`hanging \(FIXTURE_HANG\), pid=\d+ child_pid=(\d+)`)

// TestRunSmokeStops: a SIGTERM to run-smoke alone (how the kubelet stops a pod's first process)
// ends the suite as a Ctrl-C to the whole process group does (a terminal's, or scancel
// --signal=INT): the running section is INTERRUPTED, the checklist is rendered, the hanging
// step's child is gone.
func TestRunSmokeStops(t *testing.T) {
	bundle := unpackedBundle(t, "")
	for _, c := range []struct {
		name  string
		group bool
		sig   syscall.Signal
		says  string
	}{
		{"SIGTERM to run-smoke", false, syscall.SIGTERM, "run-smoke: SIGTERM: stopping the suite as a Ctrl-C does"},
		{"SIGINT to its process group", true, syscall.SIGINT, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			out := filepath.Join(work, "evidence")
			logPath := filepath.Join(work, "run.log")
			logf, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer logf.Close()
			cmd := exec.Command(filepath.Join(bundle, "run-smoke"))
			cmd.Dir = work
			cmd.Env = baseEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), "FIXTURE_HANG=train_text_to_image")
			cmd.Stdout, cmd.Stderr = logf, logf
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			exited := false
			var child int // the hanging step's child, in the step's own process group
			var childProc testenv.Proc
			// After a failure nothing of this run may outlive the test: run-smoke's process group
			// (the suite) and the hanging step's are killed. (After a pass both are gone already.)
			t.Cleanup(func() {
				if exited && !t.Failed() {
					return
				}
				if !exited { // once waited for, its pid may be another process's
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
				if childProc.Same() {
					if pgid, err := syscall.Getpgid(child); err == nil && pgid > 1 {
						_ = syscall.Kill(-pgid, syscall.SIGKILL)
					}
				}
				if !exited {
					<-done
				}
			})

			deadline := time.Now().Add(2 * time.Minute)
			for child == 0 && time.Now().Before(deadline) {
				b, _ := os.ReadFile(logPath)
				if m := hangChild.FindSubmatch(b); m != nil {
					child, _ = strconv.Atoi(string(m[1]))
					childProc = testenv.Learn(child)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if child == 0 {
				b, _ := os.ReadFile(logPath)
				t.Fatalf("the training step never hung:\n%s", tail(string(b), 40))
			}
			pid := cmd.Process.Pid
			if c.group {
				pid = -pid
			}
			if err := syscall.Kill(pid, c.sig); err != nil {
				t.Fatal(err)
			}
			var werr error
			select {
			case werr = <-done:
				exited = true
			case <-time.After(2 * time.Minute):
				t.Fatalf("run-smoke did not end within 2 minutes of %v", c.sig)
			}
			b, _ := os.ReadFile(logPath)
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() == 0 {
				t.Errorf("run-smoke: %v, want a non-zero exit", werr)
			}
			if !strings.Contains(string(b), c.says) {
				t.Errorf("run-smoke did not say %q:\n%s", c.says, tail(string(b), 30))
			}
			checklist, err := os.ReadFile(filepath.Join(out, "checklist.md"))
			if err != nil {
				t.Fatalf("no checklist after %v: %v\n%s", c.sig, err, tail(string(b), 30))
			}
			if !regexp.MustCompile(`(?m)^\| 04 \|.*\*\*INTERRUPTED\*\*`).Match(checklist) {
				t.Errorf("section 04 is not INTERRUPTED in checklist.md:\n%s", checklist)
			}
			// The hanging step's child is gone (a zombie waiting for its reaper counts as gone).
			if st, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
				t.Errorf("the hanging step's child %d survived", child)
			}
		})
	}
}
