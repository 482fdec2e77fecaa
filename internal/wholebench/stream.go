package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/runner"
)

// childStream is the first argument of this command run as a stream figure's child: one
// runner.Run in a process of its own, so that its peak RSS is the runner's, not the harness's.
const childStream = "-child-stream"

// secretEnv is what a GPU instance's environment typically holds: the redactor then looks for
// these values (and their escapings) in every byte, as it would there. Both are fake.
var secretEnv = []string{
	"HF_TOKEN=hf_wholebenchFAKEtoken0123456789abcdef",
	"WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567",
}

// manySecrets is secretEnv and 48 more secret-named variables (50 in all): an instance whose
// environment carries every service's credentials. The values are fake, 16 to 63 bytes.
func manySecrets() []string {
	r := rand.New(rand.NewPCG(5, 6))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	env := slices.Clone(secretEnv)
	for i := len(env); i < 50; i++ {
		v := make([]byte, 16+r.IntN(48))
		for j := range v {
			v[j] = chars[r.IntN(len(chars))]
		}
		env = append(env, fmt.Sprintf("SERVICE_%02d_API_KEY=%s", i, v))
	}
	return env
}

// streamResult is what the child reports, as JSON on its standard output.
type streamResult struct {
	Bytes int64 `json:"bytes"` // logged
	// MaxRSSKB is the child's VmHWM: the peak RSS of its own address space, the runner's.
	// (getrusage's ru_maxrss would not do: Linux carries it over an exec, so a child started
	// with vfork would report its parent's peak.)
	MaxRSSKB int64 `json:"maxrss_kib"`
	Streamed int64 `json:"stream_bytes"` // what reached the live stream
}

// streamChild runs argv with runner.Run as the suite runs a step (a redacting log filter, a
// redacted live stream, a marker), and prints a streamResult.
func streamChild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(childStream, flag.ContinueOnError)
	fs.SetOutput(stderr)
	plain := fs.Bool("plain", false, "no Filter and no Redact: the runner's own cost")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the step here (for go tool pprof)")
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		fmt.Fprintln(stderr, "usage: wholebench -child-stream [-plain] [-cpuprofile FILE] LOG ARGV...")
		return 2
	}
	res, err := runStep(fs.Arg(0), fs.Args()[1:], *plain, *prof)
	if err == nil {
		err = json.NewEncoder(stdout).Encode(res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wholebench: %v\n", err)
		return 1
	}
	return 0
}

func runStep(log string, argv []string, plain bool, prof string) (streamResult, error) {
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return streamResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return streamResult{}, fmt.Errorf("%s: %w", prof, err)
		}
		defer pprof.StopCPUProfile()
	}
	red := redact.New(os.Environ())
	var streamed int64
	cmd := runner.Cmd{
		Argv: argv, Dir: filepath.Dir(log), Log: log,
		Stream: redactedLines{&streamed, red}, Prefix: "04-train",
		Filter: red.Writer, Redact: red.Lines(), StepID: runner.NewRunID() + "/04-train",
	}
	if plain {
		cmd.Filter, cmd.Redact = nil, nil
	}
	res := runner.Run(context.Background(), cmd)
	if res.Err != nil {
		return streamResult{}, fmt.Errorf("%s: %w", log, res.Err)
	}
	hwm, err := peakRSS()
	return streamResult{Bytes: res.Bytes, MaxRSSKB: hwm, Streamed: streamed}, err
}

// redactedLines is the live stream as the suite builds it (smoke/suite.go): each line the
// runner writes is redacted again before it reaches the terminal, here a byte counter.
type redactedLines struct {
	n *int64
	r *redact.Redactor
}

func (l redactedLines) Write(p []byte) (int, error) {
	*l.n += int64(len(l.r.Bytes(p)))
	return len(p), nil
}

// peakRSS is VmHWM of /proc/self/status, in KiB.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	_, hwm, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	var kb int64
	if err == nil && !ok {
		err = errors.New("no VmHWM line")
	} else if err == nil {
		_, err = fmt.Sscan(string(hwm), &kb)
	}
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/status: %w", err)
	}
	return kb, nil
}

// writeLogLines writes size bytes of training-log lines to path: the lines a training run
// prints (step, loss, lr, throughput), a progress bar now and then, a warning rarely.
func writeLogLines(path string, size int64) error {
	r := rand.New(rand.NewPCG(1, 2))
	step := -1
	return writeStream(path, size, func() []byte {
		step++
		switch {
		case step%1000 == 999:
			return fmt.Appendf(nil, "2026-03-02 12:%02d:%02d,%03d - py.warnings - WARNING - /opt/venv/lib/python3.11/site-packages/torch/utils/data/dataloader.py:557: UserWarning: This DataLoader will create 8 worker processes in total.\n", step/60%60, step%60, step%1000)
		case step%100 == 50:
			return fmt.Appendf(nil, "Steps:  %d%%|%s| %d/100000 [%02d:%02d<%02d:%02d, %.2fit/s, loss=%.4f, lr=0.0001]\n", step/1000%100, "███████▏  ", step, step/60%60, step%60, 59-step%60, 59-step/60%60, 3+r.Float64(), r.Float64())
		}
		return fmt.Appendf(nil, "2026-03-02 12:%02d:%02d,%03d - difftrain.train - INFO - step=%d loss=%.6f lr=1.000000e-04 grad_norm=%.4f samples/s=%.2f mem_alloc_mib=%d\n", step/60%60, step%60, step%1000, step, r.Float64(), r.Float64()*4, 100+r.Float64()*20, 20000+r.IntN(4000))
	})
}

// writeBase64 writes size bytes of `head -c N /dev/urandom | base64` to path (76-column lines
// of random base64, from a seeded generator: the same bytes each time).
func writeBase64(path string, size int64) error {
	r := rand.NewChaCha8([32]byte{1})
	raw := make([]byte, 57) // 76 base64 characters
	line := make([]byte, 77)
	return writeStream(path, size, func() []byte {
		r.Read(raw)
		base64.StdEncoding.Encode(line, raw)
		line[76] = '\n'
		return line
	})
}

// writeStream writes the lines next gives to path until it holds size bytes (the last line cut).
func writeStream(path string, size int64, next func() []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for n := 0; int64(n) < size && err == nil; {
		var k int
		k, err = w.Write(next())
		n += k
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Truncate(size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// streamSides measures the runner on a stream that write makes (name names its CPU profile),
// with env's secrets in the step's environment, against `cat` of it through a pipe into a
// file on the same disk. Without redact it is the diagnostic: the runner with no filter at all.
func streamSides(name string, write func(string, int64) error, env []string, redact bool) func(*bench, string) (*sides, error) {
	return func(b *bench, dir string) (*sides, error) {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		r := &streamRun{name: name, env: env, redact: redact, self: self,
			src: filepath.Join(dir, "stream.txt"), out: filepath.Join(dir, "out"), size: b.streamSize}
		if err := write(r.src, r.size); err != nil {
			return nil, err
		}
		fmt.Fprintf(b.w, "  the step: cat %s\n", r.src)
		return &sides{before: r.before, baseline: r.cat, measured: r.run,
			more: func(_, _ time.Duration) ([]string, error) { return r.report(b.w), nil }}, nil
	}
}

// streamRun is a stream figure's runs.
type streamRun struct {
	name           string
	env            []string
	redact         bool
	self, src, out string
	size           int64
	rss            []int64 // each run's peak, in KiB
	streamed       int64
}

// before starts each run with the last one's files gone and written back, so that neither
// pays for the other's dirty pages.
func (r *streamRun) before(bool) error {
	if err := os.RemoveAll(r.out); err != nil {
		return err
	}
	syscall.Sync()
	return os.Mkdir(r.out, 0o755)
}

func (r *streamRun) cat() error {
	dst := filepath.Join(r.out, "cat.txt")
	if err := command(nil, 0, "bash", "-c", `cat "$1" | cat > "$2"`, "bash", r.src, dst); err != nil {
		return err
	}
	return checkSize(dst, r.size)
}

// run is the child: this command again, with the secrets in its environment.
func (r *streamRun) run() error {
	log := filepath.Join(r.out, "logs", "04-train.log")
	args := []string{childStream}
	if !r.redact {
		args = append(args, "-plain")
	}
	if prefix := os.Getenv("WHOLEBENCH_CPUPROFILE"); prefix != "" { // the last run's
		args = append(args, "-cpuprofile", prefix+"."+r.name+".prof")
	}
	cmd := exec.Command(r.self, append(args, log, "cat", r.src)...)
	cmd.Env = append(os.Environ(), r.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res streamResult
	if err == nil {
		err = json.Unmarshal(out, &res)
	}
	if err != nil {
		return fmt.Errorf("runner.Run of cat %s: %v %s", r.src, err, stderr.Bytes())
	}
	if res.Bytes != r.size {
		return fmt.Errorf("runner.Run logged %d bytes, want %d", res.Bytes, r.size)
	}
	r.rss, r.streamed = append(r.rss, res.MaxRSSKB), res.Streamed
	return checkSize(log, r.size)
}

// report prints the runner's peak RSS, and returns its row for a figure that redacts.
func (r *streamRun) report(w io.Writer) []string {
	peak := slices.Max(r.rss) << 10
	ok := met(peak <= 64<<20)
	fmt.Fprintf(w, "  the runner's peak RSS: %s at most over %d runs (goal ≤ 64 MiB: %s); the live stream got %d bytes\n", mib(peak), len(r.rss), ok, r.streamed)
	if !r.redact {
		return nil
	}
	return []string{fmt.Sprintf("| its peak RSS (the runner's process, max of %d) | | %s | | ≤ 64 MiB | %s |", len(r.rss), mib(peak), ok)}
}

func checkSize(path string, want int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() != want {
		return fmt.Errorf("%s: %d bytes, want %d", path, st.Size(), want)
	}
	return nil
}
