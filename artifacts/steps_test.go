package artifacts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// asc is an asctime of the recorded logs, in local time as Python wrote it.
func asc(t *testing.T, s string) time.Time {
	at, err := time.ParseInLocation("2006-01-02 15:04:05.000", s, time.Local)
	require.NoError(t, err)
	return at
}

// The recorded logs are real runs of the fixture's training (testdata/logs/record.sh).
func TestStepLosses_Recorded(t *testing.T) {
	got, err := StepLosses(filepath.Join("testdata", "logs", "train-pass.log"))
	require.NoError(t, err)
	require.Equal(t, []StepLoss{
		{Step: 1, Loss: "1.049752", At: asc(t, "2026-12-07 15:15:36.773")},
		{Step: 2, Loss: "1.059952", At: asc(t, "2026-12-07 15:15:36.796")},
	}, got)
	rate, ok := StepRate(got)
	require.True(t, ok)
	require.InDelta(t, 1/0.023, rate, 1e-9)

	// FIXTURE_SLOW_STEP=0.3: the same losses, 0.3 s or more between the step lines.
	slow, err := StepLosses(filepath.Join("testdata", "logs", "train-slow.log"))
	require.NoError(t, err)
	require.Len(t, slow, 2)
	require.Equal(t, []string{got[0].Loss, got[1].Loss}, []string{slow[0].Loss, slow[1].Loss})
	rate, ok = StepRate(slow)
	require.True(t, ok)
	require.InDelta(t, 1/0.340, rate, 1e-9)
}

func TestStepLosses(t *testing.T) {
	const pre = "2026-12-07 15:05:14,381 - INFO - "
	long := strings.Repeat("9", 100)
	for _, tc := range []struct {
		name, log string
		want      []StepLoss
	}{
		{"none", pre + "training precision: fp32\n" + pre + "training completed: global_step=2\n", nil},
		{"as logged, nan and inf kept as words",
			pre + "step=1 loss=1.667682\n" + pre + "step=2 loss=nan\n" + pre + "step=3 loss=-inf\n",
			[]StepLoss{{1, "1.667682", asc(t, "2026-12-07 15:05:14.381")}, {2, "nan", asc(t, "2026-12-07 15:05:14.381")}, {3, "-inf", asc(t, "2026-12-07 15:05:14.381")}}},
		{"no logging prefix: no time", "step=7 loss=0.5\r", []StepLoss{{Step: 7, Loss: "0.5"}}},
		{"another logging format", "2026-12-07 15:05:14,381 INFO step=1 loss=0.5", []StepLoss{{1, "0.5", asc(t, "2026-12-07 15:05:14.381")}}},
		{"a time that is not asctime", "2026-13-07 15:05:14,381 - INFO - step=1 loss=0.5", []StepLoss{{Step: 1, Loss: "0.5"}}},
		{"not a step line", pre + "global_step=1 loss=0.5\n" + pre + "step=x loss=0.5\n" + pre + "step=1 val_loss=0.5\n" + pre + "step=1loss=0.5\n", nil},
		{"a loss longer than MaxLossBytes is cut", "step=1 loss=" + long + " lr=1e-4\n", []StepLoss{{Step: 1, Loss: long[:MaxLossBytes]}}},
		{"a line over 4 KiB is read up to there", "step=1 loss=0.25 " + strings.Repeat("x", 8<<10) + " step=2 loss=0.5\n", []StepLoss{{Step: 1, Loss: "0.25"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "04-train.log")
			writeFile(t, p, tc.log)
			got, err := StepLosses(p)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestStepLosses_Bad(t *testing.T) {
	dir := t.TempDir()
	many := filepath.Join(dir, "many.log")
	f, err := os.Create(many)
	require.NoError(t, err)
	for i := 0; i <= MaxStepLines; i++ {
		fmt.Fprintf(f, "step=%d loss=0.5\n", i)
	}
	require.NoError(t, f.Close())
	_, err = StepLosses(many)
	require.EqualError(t, err, fmt.Sprintf("%s: more than %d step=<n> loss=<x> lines", many, MaxStepLines))
	_, err = StepLosses(filepath.Join(dir, "nope.log"))
	require.ErrorContains(t, err, "read step losses: open "+filepath.Join(dir, "nope.log"))
	_, err = StepLosses(dir)
	require.ErrorContains(t, err, "read step losses "+dir+": ")
}

func TestStepRate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 15, 5, 14, 0, time.Local)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name   string
		losses []StepLoss
		want   float64
		ok     bool
	}{
		{"none", nil, 0, false},
		{"one", []StepLoss{{Step: 1, At: t0}}, 0, false},
		{"two, half a second apart", []StepLoss{{Step: 1, At: t0}, {Step: 2, At: sec(0.5)}}, 2, true},
		{"first to last, lines without time skipped", []StepLoss{{Step: 1}, {Step: 2, At: t0}, {Step: 3}, {Step: 6, At: sec(2)}, {Step: 7}}, 2, true},
		{"the same millisecond", []StepLoss{{Step: 1, At: t0}, {Step: 2, At: t0}}, 0, false},
		{"time going back", []StepLoss{{Step: 1, At: sec(1)}, {Step: 2, At: t0}}, 0, false},
		{"steps going back", []StepLoss{{Step: 2, At: t0}, {Step: 1, At: sec(1)}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := StepRate(tc.losses)
			require.Equal(t, tc.ok, ok)
			require.InDelta(t, tc.want, got, 1e-9)
		})
	}
}
