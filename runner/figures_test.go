package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/internal/testenv"
)

// TestStepEndFigures measures, for each kind of process that outlives a step and each way the
// step ends (its leader exits, its timeout, a Ctrl-C), how long Run takes from the step's end to
// its return, with and without a cgroup: the median, min and max of RUNNER_FIGURES runs. It only
// prints, and skips without RUNNER_FIGURES:
//
//	RUNNER_FIGURES=7 go test -count=1 -run TestStepEndFigures -v ./runner
//
// The step's end is: for an exit, the time the script wrote just before it exited (date, to the
// nanosecond); for a timeout, Run's call plus the timeout (the leader starts a few ms later, so
// the figure is that much high); for a Ctrl-C, the cancel.
func TestStepEndFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RUNNER_FIGURES"))
	if n <= 0 {
		t.Skip("measures only with RUNNER_FIGURES=<runs>")
	}
	_, tmuxErr := exec.LookPath("tmux")
	for _, kind := range []string{"nothing", "marked daemon holding the pipe", "env -i daemon, output closed",
		"forking family (marked)", "tmux server (env -i)", "unfindable holder of the pipe"} {
		if kind == "tmux server (env -i)" && tmuxErr != nil {
			continue
		}
		for _, end := range []string{"exit", "timeout", "Ctrl-C"} {
			for _, cg := range []bool{true, false} {
				if cg && StepCgroups() != nil {
					continue
				}
				stepCgroupsOff = !cg
				var ms []float64
				survived, named := 0, 0
				for range n {
					d, alive, esc := stepEndOnce(t, kind, end)
					ms = append(ms, d.Seconds()*1000)
					survived += alive
					named += esc
				}
				stepCgroupsOff = false
				slices.Sort(ms)
				t.Logf("FIGURE %-31s %-7s cgroup=%-5v median %7.1f ms (min %7.1f, max %7.1f); named %d, survived %d of %d",
					kind, end, cg, ms[len(ms)/2], ms[0], ms[len(ms)-1], named, survived, n)
			}
		}
	}
}

// stepEndOnce runs one step of that kind, ended that way, and returns the time from its end to
// Run's return, whether a process it started survived Run (killed then), and whether Run named
// one.
func stepEndOnce(t *testing.T, kind, end string) (time.Duration, int, int) {
	dir := t.TempDir()
	pids, lock, ready := filepath.Join(dir, "pids"), filepath.Join(dir, "lock"), filepath.Join(dir, "ready")
	var start string
	switch kind {
	case "marked daemon holding the pipe":
		start = fmt.Sprintf(`setsid sh -c 'trap "" TERM HUP INT; echo $$ >> %s; exec sleep 300' &`, pids)
	case "env -i daemon, output closed":
		start = fmt.Sprintf(escapees["env -i daemon"], pids)
	case "tmux server (env -i)":
		start = fmt.Sprintf(escapees["tmux server"], pids)
	case "forking family (marked)":
		start = strings.TrimSuffix(forkChain(lock, pids), "\necho started")
	case "unfindable holder of the pipe":
		start, _ = stdoutHolder(t, dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := Cmd{Dir: dir, Log: filepath.Join(dir, "step.log"), StepID: NewRunID() + "/03-validate", Timeout: time.Minute}
	then := fmt.Sprintf("sleep 0.3\ntouch %s\nsleep 300", ready)
	switch end {
	case "exit":
		then = fmt.Sprintf("sleep 0.3\ndate +%%s%%N > %s\nexit 0", ready)
	case "timeout":
		c.Timeout = 2 * time.Second
	}
	c.Argv = sh(start + "\n" + then)
	var cancelled time.Time
	if end == "Ctrl-C" {
		go func() {
			for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) {
				time.Sleep(time.Millisecond)
			}
			cancelled = time.Now()
			cancel()
		}()
	}
	called := time.Now()
	res := Run(ctx, c)
	returned := time.Now()
	var from time.Time
	switch end {
	case "exit":
		ns, err := strconv.ParseInt(fileText(ready), 10, 64)
		if err != nil {
			t.Fatalf("%s: no end time: %v; log:\n%s", kind, err, fileText(c.Log))
		}
		from = time.Unix(0, ns)
	case "timeout":
		from = called.Add(c.Timeout)
	default:
		from = cancelled
	}
	time.Sleep(100 * time.Millisecond)
	survived := 0
	if b, err := os.ReadFile(pids); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && running(pid) {
				survived = 1
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	}
	if kind == "forking family (marked)" && !testenv.LockFree(lock) {
		survived = 1
	}
	return returned.Sub(from), survived, min(len(res.Escaped), 1)
}
