package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/runner"
)

// childStream is the first argument of this command run as the stream figure's child: one
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

// streamChildResult is what the child reports.
type streamChildResult struct {
	Bytes int64 `json:"bytes"`
	// MaxRSSKB is the child's VmHWM: the peak RSS of its own address space, the runner's.
	// (getrusage's ru_maxrss would not do: Linux carries it over an exec, so a child started
	// with vfork would report its parent's peak.)
	MaxRSSKB int64   `json:"maxrss_kib"`
	Seconds  float64 `json:"seconds"` // runner.Run's own Duration
	StreamB  int64   `json:"stream_bytes"`
}

// redactedLines is the live stream as smoke.Suite builds it (smoke/suite.go): each line the
// runner writes is redacted again before it reaches the terminal, here a byte counter.
type redactedLines struct {
	n *int64
	r *redact.Redactor
}

func (l redactedLines) Write(p []byte) (int, error) {
	*l.n += int64(len(l.r.Bytes(p)))
	return len(p), nil
}

// streamChild runs argv with runner.Run as Section.RunArgv calls it (a redacting log filter,
// a redacted live stream, a marker), and writes streamChildResult as JSON to -result.
func streamChild(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(childStream, flag.ContinueOnError)
	fs.SetOutput(stderr)
	logPath := fs.String("log", "", "the step's log")
	resPath := fs.String("result", "", "where the result goes, as JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || *logPath == "" || *resPath == "" {
		fmt.Fprintln(stderr, "usage: wholebench -child-stream -log FILE -result FILE argv...")
		return 2
	}
	if prof := os.Getenv("WHOLEBENCH_CPUPROFILE"); prof != "" { // for go tool pprof (streamPairs names it)
		f, err := os.Create(prof)
		if err != nil {
			fmt.Fprintf(stderr, "wholebench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "wholebench: %s: %v\n", prof, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	red := redact.New(os.Environ())
	var streamed int64
	cmd := runner.Cmd{
		Argv: fs.Args(), Dir: filepath.Dir(*logPath), Log: *logPath,
		Stream: redactedLines{&streamed, red}, Prefix: "04-train",
		Filter: red.Writer, Redact: red.Lines(), StepID: runner.NewRunID() + "/04-train",
	}
	if os.Getenv("WHOLEBENCH_NO_REDACT") == "1" { // to tell the runner's cost from the redactor's
		cmd.Filter, cmd.Redact = nil, nil
	}
	res := runner.Run(context.Background(), cmd)
	if res.Err != nil {
		fmt.Fprintf(stderr, "wholebench: %s: %v\n", *logPath, res.Err)
		return 1
	}
	hwm, err := peakRSS()
	if err != nil {
		fmt.Fprintf(stderr, "wholebench: %v\n", err)
		return 1
	}
	b, _ := json.Marshal(streamChildResult{Bytes: res.Bytes, MaxRSSKB: hwm, Seconds: res.Duration.Seconds(), StreamB: streamed})
	if err := os.WriteFile(*resPath, b, 0o644); err != nil {
		fmt.Fprintf(stderr, "wholebench: %v\n", err)
		return 1
	}
	return 0
}

// peakRSS is VmHWM of /proc/self/status, in KiB.
func peakRSS() (int64, error) {
	const p = "/proc/self/status"
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("read %s: VmHWM: %w", p, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("read %s: no VmHWM line", p)
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
	for n := int64(0); n < size; {
		out := next()
		if rem := size - n; int64(len(out)) > rem {
			out = out[:rem]
		}
		k, err := w.Write(out)
		n += int64(k)
		if err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func streamFigure(c config, w io.Writer) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	tmp, err := os.MkdirTemp(c.tmp, "wholebench-stream-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)
	var rows []string
	for _, kind := range []struct {
		name  string
		write func(string, int64) error
		plain bool     // also measure the runner without the redacting filter, to tell the two apart
		env   []string // the secrets in the step's environment
		goal  float64  // of cat's throughput
	}{
		{"training-log lines", writeLogLines, true, secretEnv, 0.8},
		{"base64 of random bytes", writeBase64, false, secretEnv, 0.8},
		{"training-log lines, 50 secrets in the environment", writeLogLines, false, manySecrets(), 0.7},
		{"base64 of random bytes, 50 secrets in the environment", writeBase64, false, manySecrets(), 0.7},
	} {
		src := filepath.Join(tmp, "stream.txt")
		if err := kind.write(src, c.streamSize); err != nil {
			return result{}, err
		}
		for _, redact := range []bool{true, false} {
			if !redact && !kind.plain {
				continue
			}
			r, err := streamPairs(c, w, self, tmp, src, kind.name, redact, kind.env, kind.goal)
			if err != nil {
				return result{}, err
			}
			rows = append(rows, r...)
		}
		if err := os.Remove(src); err != nil {
			return result{}, err
		}
	}
	return result{rows: rows}, nil
}

// streamPairs measures the runner on src's stream against cat, with env's secrets in the step's
// environment: with the suite's redaction, or without any filter (a diagnostic: the runner's own
// cost). goal is the least throughput, as a fraction of cat's, that meets the goal.
func streamPairs(c config, w io.Writer, self, tmp, src, kind string, redact bool, env []string, goal float64) ([]string, error) {
	how := "through runner.Run as the suite calls it"
	if !redact {
		how = "through runner.Run with no Filter and no Redact (diagnostic: the runner's own cost)"
	}
	fmt.Fprintf(w, "\n## a step that prints %s of %s (`cat %s` as the step's command), %s\n", mib(c.streamSize), kind, src, how)
	out := filepath.Join(tmp, "out")
	var rss []int64
	var streamed int64
	prepare := func(bool) error {
		// Each run starts with the last one's file gone and written back, so that neither
		// pays for the other's dirty pages.
		if err := os.RemoveAll(out); err != nil {
			return err
		}
		if err := os.Mkdir(out, 0o755); err != nil {
			return err
		}
		syscall.Sync()
		return nil
	}
	defer os.RemoveAll(out)
	baseline := func() error {
		cmd := exec.Command("bash", "-c", `cat "$1" | cat > "$2"`, "bash", src, filepath.Join(out, "cat.txt"))
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cat %s | cat > %s: %v %s", src, filepath.Join(out, "cat.txt"), err, b)
		}
		return checkSize(filepath.Join(out, "cat.txt"), c.streamSize)
	}
	measured := func() error {
		logPath, resPath := filepath.Join(out, "logs", "04-train.log"), filepath.Join(tmp, "result.json")
		cmd := exec.Command(self, childStream, "-log", logPath, "-result", resPath, "cat", src)
		cmd.Env = append(os.Environ(), env...)
		if !redact {
			cmd.Env = append(cmd.Env, "WHOLEBENCH_NO_REDACT=1")
		}
		if prof := os.Getenv("WHOLEBENCH_CPUPROFILE"); prof != "" {
			cmd.Env = append(cmd.Env, "WHOLEBENCH_CPUPROFILE="+profileName(prof, kind, redact, len(env)))
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("runner.Run of cat %s: %v %s", src, err, b)
		}
		b, err := os.ReadFile(resPath)
		if err != nil {
			return err
		}
		var r streamChildResult
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("read %s: %w", resPath, err)
		}
		if r.Bytes != c.streamSize {
			return fmt.Errorf("runner.Run logged %d bytes, want %d", r.Bytes, c.streamSize)
		}
		rss, streamed = append(rss, r.MaxRSSKB), r.StreamB
		return checkSize(logPath, c.streamSize)
	}
	base, meas, err := pairs{N: c.n, W: w, Unit: secs, Prepare: prepare, Baseline: baseline, Measured: measured}.run()
	if err != nil {
		return nil, err
	}
	mb, mm := median(base), median(meas)
	ratio := mb.Seconds() / mm.Seconds() // of cat's throughput
	peak := slices.Max(rss)
	fmt.Fprintf(w, "  cat: %s, %s; runner.Run: %s, %s\n", spread(base, secs), rate(c.streamSize, mb), spread(meas, secs), rate(c.streamSize, mm))
	fmt.Fprintf(w, "  throughput %.3f of cat's (goal ≥ %.1f: %s); the runner's peak RSS %s at most over %d runs (goal ≤ 64 MiB: %s); the live stream got %d bytes\n",
		ratio, goal, met(ratio >= goal), mib(peak<<10), len(rss), met(peak <= 64<<10), streamed)
	if !redact {
		return []string{fmt.Sprintf("| diagnostic: the same, runner.Run with no redacting filter | `cat` of it to a file: %s, %s | %s, %s | %.3f of cat's throughput | (≥ %.1f) | %s |",
			secs(mb), rate(c.streamSize, mb), secs(mm), rate(c.streamSize, mm), ratio, goal, met(ratio >= goal))}, nil
	}
	return []string{
		fmt.Sprintf("| a step that prints %s (%s) | `cat` of it to a file: %s, %s | %s, %s | %.3f of cat's throughput | ≥ %.1f | %s |",
			mib(c.streamSize), kind, secs(mb), rate(c.streamSize, mb), secs(mm), rate(c.streamSize, mm), ratio, goal, met(ratio >= goal)),
		fmt.Sprintf("| its peak RSS (the runner's process, max of %d) | | %s | | ≤ 64 MiB | %s |", len(rss), mib(peak<<10), met(peak <= 64<<10)),
	}, nil
}

// profileName is where a kind of run leaves its CPU profile (the last run of each):
// PREFIX.<kind>[-50][-plain].prof.
func profileName(prefix, kind string, redact bool, secrets int) string {
	name := strings.Fields(kind)[0]
	if secrets > len(secretEnv) {
		name += "-50"
	}
	if !redact {
		name += "-plain"
	}
	return prefix + "." + name + ".prof"
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

func mib(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(n)/(1<<20)/d.Seconds())
}
