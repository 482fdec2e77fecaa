package artifacts

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"
)

// StepLoss is one "step=<n> loss=<x>" line of a training log.
type StepLoss struct {
	Step int
	Loss string    // as logged ("1.667682", "nan"), for an exact comparison; at most MaxLossBytes
	At   time.Time // the line's logging time (asctime, local time); zero when the line has none
}

// Bounds on what StepLosses keeps: a smoke run logs a handful of steps, so a log with more
// step lines than MaxStepLines is refused rather than held in memory.
const (
	MaxStepLines = 1 << 16
	MaxLossBytes = 64
)

// stepLine is difftrain's `logger.info("step=%d loss=%.6f", ...)`, after the logging prefix.
var stepLine = regexp.MustCompile(`(?:^|\s)step=([0-9]{1,9}) loss=(\S+)`)

// asctime is Python logging's default %(asctime)s, "2026-12-07 15:05:14,381".
const asctime = "2006-01-02 15:04:05,000"

// StepLosses reads a training log's step lines in order, in bounded memory (lines are read in a
// 64 KiB buffer and each is cut at 4 KiB).
func StepLosses(logPath string) ([]StepLoss, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, fmt.Errorf("read step losses: %w", err)
	}
	defer f.Close()
	var out []StepLoss
	tooMany := false
	err = eachLine(f, 4<<10, func(line []byte) bool {
		m := stepLine.FindSubmatch(line)
		if m == nil {
			return true
		}
		if len(out) == MaxStepLines {
			tooMany = true
			return false
		}
		step, _ := strconv.Atoi(string(m[1])) // at most 9 digits
		out = append(out, StepLoss{Step: step, Loss: string(m[2][:min(len(m[2]), MaxLossBytes)]), At: lineTime(line)})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read step losses %s: %w", logPath, err)
	}
	if tooMany {
		return nil, fmt.Errorf("%s: more than %d step=<n> loss=<x> lines", logPath, MaxStepLines)
	}
	return out, nil
}

// lineTime is the asctime a line starts with (difftrain's "<asctime> - <level> - "), or zero.
func lineTime(line []byte) time.Time {
	if len(line) < len(asctime) {
		return time.Time{}
	}
	at, err := time.ParseInLocation(asctime, string(line[:len(asctime)]), time.Local)
	if err != nil {
		return time.Time{}
	}
	return at
}

// StepRate is the steps per second between the first and the last timestamped step line, and
// whether there were two such lines with time between them. The first step's own duration is
// not in it: the rate covers the steps after the first line.
func StepRate(losses []StepLoss) (stepsPerSecond float64, ok bool) {
	var first, last *StepLoss
	for i := range losses {
		if losses[i].At.IsZero() {
			continue
		}
		if first == nil {
			first = &losses[i]
		}
		last = &losses[i]
	}
	if first == nil || last.Step <= first.Step || !last.At.After(first.At) {
		return 0, false
	}
	return float64(last.Step-first.Step) / last.At.Sub(first.At).Seconds(), true
}
