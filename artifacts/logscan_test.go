package artifacts

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

const prefix = "2025-01-01 00:00:00,000 - "

func TestScanLog(t *testing.T) {
	type testCase struct {
		name  string
		log   string
		want  LogScan // Path and Bytes are not compared
		first map[string][]string
	}
	run := func(t *testing.T, tc testCase) {
		// Every buffer size must give the same answer as one large read.
		for _, size := range []int{1, 2, 3, 7, 16, 41, 64 << 10} {
			got, err := scanLog(strings.NewReader(tc.log), size)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.log), got.Bytes)
			require.Equal(t, tc.want.Lines, got.Lines, "lines, buffer %d", size)
			require.Equal(t, [4]int{tc.want.NaN, tc.want.Inf, tc.want.Warnings, tc.want.Tracebacks},
				[4]int{got.NaN, got.Inf, got.Warnings, got.Tracebacks}, "nan, inf, warnings, tracebacks; buffer %d", size)
			first := tc.first
			if first == nil {
				first = map[string][]string{}
			}
			require.Equal(t, first, got.First, "buffer %d", size)
		}
	}
	for _, tc := range []testCase{
		{name: "empty"},
		{
			name: "clean run",
			log:  prefix + "INFO - training precision: fp32\n" + prefix + "INFO - step=1 loss=0.123456\n" + prefix + "INFO - training completed: global_step=2\n",
			want: LogScan{Lines: 3},
		},
		{
			name:  "nan and inf losses in any case, no newline at the end",
			log:   "step=1 loss=nan\nstep=2 loss=-inf\nstep=3 loss=NaN\nstep=4 LOSS=Inf\nstep=5 val_loss=nan",
			want:  LogScan{Lines: 5, NaN: 3, Inf: 2},
			first: map[string][]string{KindNaN: {"step=1 loss=nan", "step=3 loss=NaN", "step=5 val_loss=nan"}, KindInf: {"step=2 loss=-inf", "step=4 LOSS=Inf"}},
		},
		{
			name: "words that start like nan and inf are not losses",
			log:  "loss=nano\nloss=info\nloss=inf_x\nlos=nan\nloss= nan\nloss=0.5 nan\n",
			want: LogScan{Lines: 6},
		},
		{
			name:  "one line counts once per kind",
			log:   "loss=nan loss=nan loss=inf\n",
			want:  LogScan{Lines: 1, NaN: 1, Inf: 1},
			first: map[string][]string{KindNaN: {"loss=nan loss=nan loss=inf"}, KindInf: {"loss=nan loss=nan loss=inf"}},
		},
		{
			name: "logging and Python warnings",
			log: prefix + "WARNING - precision=bf16 requested on non-CUDA device; falling back to fp32\n" +
				"/x/torch/amp.py:12: UserWarning: torch.cuda.amp.GradScaler is enabled, but CUDA is not available.\n" +
				"  warnings.warn(\n" +
				"FutureWarning: `x` is deprecated\n" +
				"a warning: lower case is not a warning line\n",
			want: LogScan{Lines: 5, Warnings: 3},
			first: map[string][]string{KindWarning: {
				prefix + "WARNING - precision=bf16 requested on non-CUDA device; falling back to fp32",
				"/x/torch/amp.py:12: UserWarning: torch.cuda.amp.GradScaler is enabled, but CUDA is not available.",
				"FutureWarning: `x` is deprecated",
			}},
		},
		{
			name: "traceback and its exception line; chained",
			log: "Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n    main()\n\n" +
				"KeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:\n\n" +
				"Traceback (most recent call last):\n  File \"train.py\", line 9\n" +
				"ImportError: Missing optional dependencies. Install with pip install -e \".[text2image]\"\n",
			want: LogScan{Lines: 8, Tracebacks: 2},
			first: map[string][]string{KindTraceback: {"KeyError: 'x'",
				"ImportError: Missing optional dependencies. Install with pip install -e \".[text2image]\""}},
		},
		{
			name:  "traceback cut off by the end of the log",
			log:   "x\nTraceback (most recent call last):\n  File \"a.py\", line 1\n",
			want:  LogScan{Lines: 3, Tracebacks: 1},
			first: map[string][]string{KindTraceback: {"Traceback (most recent call last):"}},
		},
		{
			name:  "progress bars redraw with carriage returns",
			log:   " 50%|#####     | 1/2\r100%|##########| 2/2 loss=nan\r\n" + prefix + "WARNING - w\r\n",
			want:  LogScan{Lines: 3, NaN: 1, Warnings: 1},
			first: map[string][]string{KindNaN: {"100%|##########| 2/2 loss=nan"}, KindWarning: {prefix + "WARNING - w"}},
		},
		{
			name:  "first lines are clipped and made valid UTF-8",
			log:   "loss=nan \xff\xfe " + strings.Repeat("é", 200) + "\n",
			want:  LogScan{Lines: 1, NaN: 1},
			first: map[string][]string{KindNaN: {clip("loss=nan \xff\xfe "+strings.Repeat("é", 200), LineClip)}},
		},
		{
			name:  "only five first lines are kept",
			log:   strings.Repeat("loss=nan\n", 7),
			want:  LogScan{Lines: 7, NaN: 7},
			first: map[string][]string{KindNaN: {"loss=nan", "loss=nan", "loss=nan", "loss=nan", "loss=nan"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestScanLog_HugeLineBoundedMemory(t *testing.T) {
	// A 32 MB line of invalid UTF-8 with a NaN loss at its very end, then a warning.
	path := filepath.Join(t.TempDir(), "big.log")
	f, err := os.Create(path)
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte{0xff, 'a', 0xc3}, 1<<20/3)
	for range 32 {
		_, err := f.Write(chunk)
		require.NoError(t, err)
	}
	_, err = f.WriteString("loss=nan\nUserWarning: w\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var s *LogScan
	n := allocated(func() { s, err = ScanLog(path) })
	require.NoError(t, err)
	require.Equal(t, 1, s.NaN)
	require.Equal(t, 1, s.Warnings)
	require.EqualValues(t, 2, s.Lines)
	require.True(t, utf8.ValidString(s.First[KindNaN][0]))
	require.LessOrEqual(t, len(s.First[KindNaN][0]), LineClip+len("…"))
	require.Less(t, n, uint64(1<<20), "allocated while scanning a 32 MB line")
}

func TestScanLog_MissingFile(t *testing.T) {
	_, err := ScanLog(filepath.Join(t.TempDir(), "nope.log"))
	require.ErrorContains(t, err, "nope.log")
}

func TestFallback(t *testing.T) {
	type testCase struct {
		name, log, want string
	}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(t.TempDir(), "train.log")
		writeFile(t, path, tc.log)
		got, ok, err := Fallback(path)
		require.NoError(t, err)
		require.Equal(t, tc.want != "", ok)
		require.Equal(t, tc.want, got)
	}
	for _, tc := range []testCase{
		{"none", prefix + "INFO - training precision: fp32\n", ""},
		{"non-CUDA device", prefix + "INFO - x\n" + prefix + "WARNING - precision=fp16 requested on non-CUDA device; falling back to fp32\n",
			"precision=fp16 requested on non-CUDA device; falling back to fp32"},
		{"no bf16 on this GPU", prefix + "WARNING - bf16 not supported on this CUDA device; falling back to fp32",
			"bf16 not supported on this CUDA device; falling back to fp32"},
		{"another fallback target is not the contract's", "precision=fp16 requested on non-CUDA device; falling back to bf16\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
	_, _, err := Fallback(filepath.Join(t.TempDir(), "nope.log"))
	require.ErrorContains(t, err, "nope.log")
}

func TestCheckResume(t *testing.T) {
	type testCase struct {
		name, log, wantErr string // @L is the log's path
	}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(t.TempDir(), "resume.log")
		writeFile(t, path, tc.log)
		err := CheckResume(path, 2)
		if tc.wantErr == "" {
			require.NoError(t, err)
			return
		}
		require.EqualError(t, err, strings.ReplaceAll(tc.wantErr, "@L", path))
	}
	resuming := prefix + "INFO - resuming from checkpoint: /ws/difftrain/_tmp_run/checkpoint-2.pt\n"
	done := prefix + "INFO - training completed: global_step=2\n"
	for _, tc := range []testCase{
		{"resumed and completed", prefix + "INFO - training precision: fp32\n" + resuming + done, ""},
		{"no resume line", done, `@L: no "resuming from checkpoint: <path>" line`},
		{"resumed from another checkpoint", strings.Replace(resuming, "checkpoint-2", "checkpoint-1", 1) + done,
			`@L: resuming from checkpoint: "/ws/difftrain/_tmp_run/checkpoint-1.pt", want checkpoint-2.pt`},
		{"not completed", resuming + "Traceback (most recent call last):\n", `@L: no "training completed: global_step=N" line after the resume`},
		{"completed before the resume only", done + resuming, `@L: no "training completed: global_step=N" line after the resume`},
		{"completed at another step", resuming + strings.Replace(done, "=2", "=3", 1), "@L: training completed: global_step=3, want 2"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
	require.ErrorContains(t, CheckResume(filepath.Join(t.TempDir(), "nope.log"), 2), "nope.log")
}

func TestReadResume_Saved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resume.log")
	writeFile(t, path, "saved checkpoint: /a/checkpoint-1.pt\nresuming from checkpoint: /a/checkpoint-2.pt\nsaved checkpoint: /a/checkpoint-3.pt\ntraining completed: global_step=3\n")
	res, err := ReadResume(path)
	require.NoError(t, err)
	require.Equal(t, &Resume{From: "/a/checkpoint-2.pt", Completed: 3, Saved: []string{"/a/checkpoint-3.pt"}}, res)
}

// FuzzScanLog scans arbitrary logs: small reads must agree with large ones, and kept lines
// are valid UTF-8 and clipped.
func FuzzScanLog(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		big, err := scanLog(bytes.NewReader(data), 64<<10)
		require.NoError(t, err)
		small, err := scanLog(bytes.NewReader(data), int(size%64)+1)
		require.NoError(t, err)
		require.Equal(t, big, small)
		for kind, lines := range big.First {
			require.LessOrEqual(t, len(lines), MaxFirst)
			for _, l := range lines {
				require.True(t, utf8.ValidString(l), "%s: %q", kind, l)
				require.LessOrEqual(t, len(l), LineClip+len("…"))
				require.NotContains(t, l, "\n")
			}
		}
		require.GreaterOrEqual(t, big.NaN, len(big.First[KindNaN]))
		require.GreaterOrEqual(t, big.Tracebacks, len(big.First[KindTraceback]))
		require.EqualValues(t, len(data), big.Bytes)
	})
}

// writeBenchLog writes a 64 MB training log: mostly step lines, a warning every 100 lines,
// progress bars redrawn with '\r', and one 10 MB line.
func writeBenchLog(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "bench.log")
	f, err := os.Create(path)
	require.NoError(b, err)
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	for step := 0; buf.Len() < 64<<20; step++ {
		switch step % 100 {
		case 0:
			fmt.Fprintf(&buf, "%sWARNING - /x/y.py:1: FutureWarning: deprecated\n", prefix)
		case 50:
			if step == 50_050 {
				buf.WriteString(strings.Repeat("x", 10<<20) + "\n")
			}
		case 99:
			buf.WriteString(" 50%|#####     | 1/2 [00:01<00:01]\r")
		default:
			fmt.Fprintf(&buf, "%sINFO - step=%d loss=%.6f\n", prefix, step, rng.Float64())
		}
	}
	_, err = f.Write(buf.Bytes()[:64<<20])
	require.NoError(b, err)
	return path
}

func TestCheckCompleted(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "train.log")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	require.NoError(t, CheckCompleted(write("x - INFO - step=2 loss=0.1\nx - INFO - training completed: global_step=2\n"), 2))
	p := write("x - INFO - training completed: global_step=1\n")
	require.EqualError(t, CheckCompleted(p, 2), p+`: no "training completed: global_step=2" line (last: 1)`)
	p = write("x - INFO - step=1 loss=0.1\n")
	require.EqualError(t, CheckCompleted(p, 2), p+`: no "training completed: global_step=2" line (last: -1)`)
	require.ErrorContains(t, CheckCompleted(filepath.Join(dir, "nope.log"), 2), "nope.log")
}
