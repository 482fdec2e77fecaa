package gpuenv

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

//go:embed probe.py
var probeScript string

// probeMarker starts the probe's result line; anything else on stdout is ignored.
const probeMarker = "GPUENV_PROBE "

// probePackages are the Python.Packages keys: the distributions difftrain's text2image extra needs.
var probePackages = []string{"diffusers", "transformers", "datasets", "torchvision", "accelerate", "numpy", "Pillow"}

const defaultProbeTimeout = 60 * time.Second

// probePython runs the probe script under o.Python in one subprocess. The error names the
// interpreter; Python.Error carries the same text so the facts file keeps it.
func probePython(ctx context.Context, o Options) (Python, error) {
	p := Python{Interpreter: o.Python}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, o.Python, "-c", probeScript)
	cmd.Dir = o.Dir
	cmd.Env = o.Env
	stdout, stderr := &capped{max: maxProbeOutput}, &capped{max: maxProbeOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Kill the whole process group on timeout, so a child holding the pipes cannot keep us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second

	fail := func(format string, args ...any) (Python, error) {
		err := fmt.Errorf("probe python %s: %s", o.Python, fmt.Sprintf(format, args...))
		p.Error = err.Error()
		return p, err
	}
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail("timed out after %s", timeout)
		}
		if tail := lastLine(stderr.String()); tail != "" {
			return fail("%v: %s", err, tail)
		}
		return fail("%v", err)
	}
	if stdout.dropped > 0 {
		return fail("its output is larger than %d bytes, the most the harness reads", maxProbeOutput)
	}
	line := ""
	for l := range strings.Lines(stdout.String()) {
		if s, ok := strings.CutPrefix(l, probeMarker); ok {
			line = s
		}
	}
	if line == "" {
		return fail("no %q line in its output: %s", strings.TrimSpace(probeMarker), lastLine(stdout.String()+"\n"+stderr.String()))
	}
	if err := json.Unmarshal([]byte(line), &p); err != nil {
		return fail("decode result: %v", err)
	}
	p.Interpreter = o.Python
	if p.Torch.Version == "" {
		p.Torch.Version = NotInstalled
	}
	if p.Packages == nil {
		p.Packages = map[string]string{}
	}
	for _, name := range probePackages {
		if p.Packages[name] == "" {
			p.Packages[name] = NotInstalled
		}
	}
	return p, nil
}

// maxProbeOutput bounds what the harness keeps of the probe's output: a sitecustomize that
// prints without end cannot grow the suite's memory.
const maxProbeOutput = 1 << 20

// capped keeps the first max bytes written to it and counts the rest. (It has no ReadFrom, so
// io.Copy goes through Write.)
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (c *capped) Write(p []byte) (int, error) {
	keep := min(len(p), max(c.max-c.buf.Len(), 0))
	c.buf.Write(p[:keep])
	c.dropped += int64(len(p) - keep)
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }

// lastLine is the last non-blank line of s, where a Python traceback puts the exception.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
