package runner

import (
	"github.com/difftrain/gpusmoke/internal/benchratio"

	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// countWriter counts what is written to it: the live stream, which must stay bounded.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkRun is runner.Run of a command printing 1 MB or 64 MB, against the same command
// run by os/exec with its output to /dev/null (no log, no stream). The suite keeps every byte
// in the log (and fsyncs it) and streams bounded lines, so its ratio includes that file I/O.
// Its memory must not grow with the output: alloc-x1MB is the suite's heap bytes per run over
// those of the same kind of output cut to 1 MB, and stream-B the bytes the live stream got.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })

	// 64 MB in 10 MB lines, and 64 MB of training-log lines (the stream's line cap applies).
	longLines := filepath.Join(dir, "10MB-lines.txt")
	var buf bytes.Buffer
	for buf.Len() < 64<<20 {
		buf.Write(bytes.Repeat([]byte("x"), 10<<20-1))
		buf.WriteByte('\n')
	}
	writeFile(b, longLines, buf.Bytes()[:64<<20])
	shortLines := filepath.Join(dir, "log-lines.txt")
	buf.Reset()
	for step := 0; buf.Len() < 64<<20; step++ {
		fmt.Fprintf(&buf, "2026-03-02 12:00:00,000 - difftrain.train - INFO - step=%d loss=0.%06d lr=1e-4\n", step, step*7919%1000000)
	}
	writeFile(b, shortLines, buf.Bytes()[:64<<20])
	buf = bytes.Buffer{}

	baseline := func(argv []string) func() error {
		return func() error {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdout, cmd.Stderr = devnull, devnull
			return cmd.Run()
		}
	}
	stream := &countWriter{}
	suite := func(argv []string, size int64) func() error {
		return func() error {
			stream.n = 0
			res := Run(context.Background(), Cmd{
				Argv: argv, Dir: dir, Log: filepath.Join(dir, "logs", "04-train.log"),
				Stream: stream, Prefix: "04-train",
			})
			if res.Err != nil {
				return res.Err
			}
			if res.Bytes != size {
				return fmt.Errorf("%v: logged %d bytes, want %d", argv, res.Bytes, size)
			}
			return nil
		}
	}
	for _, bc := range []struct {
		name  string
		argv  []string
		size  int64
		small []string // the same kind of output cut to 1 MB, for alloc-x1MB; nil: none
	}{
		{"1MB", []string{"head", "-c", "1M", "/dev/zero"}, 1 << 20, nil},
		{"64MB", []string{"head", "-c", "64M", "/dev/zero"}, 64 << 20, []string{"head", "-c", "1M", "/dev/zero"}},
		{"64MB-10MBlines", []string{"cat", longLines}, 64 << 20, []string{"head", "-c", "1M", longLines}},
		{"64MB-loglines", []string{"cat", shortLines}, 64 << 20, []string{"head", "-c", "1M", shortLines}},
	} {
		b.Run(bc.name, benchratio.Family{
			Bytes:    bc.size,
			Baseline: baseline(bc.argv),
			Suite:    suite(bc.argv, bc.size),
			Metrics: func(b *testing.B, isSuite bool, _, alloc float64) {
				if !isSuite {
					return
				}
				b.ReportMetric(float64(stream.n), "stream-B")
				if bc.small == nil {
					return
				}
				small := suite(bc.small, 1<<20)
				a0 := benchratio.TotalAlloc()
				for range 5 {
					if err := small(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(alloc/(float64(benchratio.TotalAlloc()-a0)/5), "alloc-x1MB")
			},
		}.Run)
	}
}

func writeFile(b *testing.B, path string, data []byte) {
	b.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
}
