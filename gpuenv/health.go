package gpuenv

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The health preflight reads what DCGM's quick diagnostic reads, without running work on the
// GPU: it takes milliseconds.

// busyMemMiB is the allocated memory above which an idle-looking GPU counts as already busy.
const busyMemMiB = 1024

// clockEvents name the clock-event reasons, in bit order. trouble marks those that mean a fault
// or cooling trouble; a power cap under load, idle clocks and application clocks are normal.
var clockEvents = []struct {
	bit     uint64
	name    string
	trouble bool
}{
	{ClockEventGPUIdle, "GPU idle", false},
	{ClockEventApplicationsSet, "applications clocks setting", false},
	{ClockEventSWPowerCap, "SW power cap", false},
	{ClockEventHWSlowdown, "HW slowdown", true},
	{ClockEventSyncBoost, "sync boost", false},
	{ClockEventSWThermal, "SW thermal slowdown", true},
	{ClockEventHWThermal, "HW thermal slowdown", true},
	{ClockEventHWPowerBrake, "HW power brake", true},
	{ClockEventDisplayClock, "display clock setting", false},
}

// ClockEventNames names the reasons in mask, in bit order; a bit NVML may add later reads as
// its hexadecimal value ("0x400").
func ClockEventNames(mask uint64) []string {
	var out []string
	for _, e := range clockEvents {
		if mask&e.bit != 0 {
			out = append(out, e.name)
			mask &^= e.bit
		}
	}
	for bit := uint64(1); mask != 0; bit <<= 1 {
		if mask&bit != 0 {
			out = append(out, fmt.Sprintf("%#x", bit))
			mask &^= bit
		}
	}
	return out
}

// unreadable is the fatal finding for a GPU whose facts or health could not be read.
func unreadable(i int, err error) Finding {
	if errors.Is(err, ErrGPULost) {
		return Finding{Severity: Fatal, GPU: i, Message: fmt.Sprintf("GPU %d has fallen off the bus (%v): reset or replace it", i, err)}
	}
	return Finding{Severity: Fatal, GPU: i, Message: fmt.Sprintf("GPU %d cannot be read: %v", i, err)}
}

// judge turns the raw health of GPU g into findings.
func judge(g GPU, h DeviceHealth) []Finding {
	i := g.Index
	var out []Finding
	fatal := func(format string, args ...any) {
		out = append(out, Finding{Severity: Fatal, GPU: i, Message: fmt.Sprintf("GPU %d: ", i) + fmt.Sprintf(format, args...)})
	}
	note := func(format string, args ...any) {
		out = append(out, Finding{Severity: Note, GPU: i, Message: fmt.Sprintf("GPU %d: ", i) + fmt.Sprintf(format, args...)})
	}
	if h.ECCUncorrected > 0 {
		fatal("%d volatile uncorrectable ECC error(s) since the driver loaded", h.ECCUncorrected)
	}
	if h.RetiredPagesPending {
		fatal("retired pages are pending: reset the GPU before trusting its memory")
	}
	if h.RowRemapFailed {
		fatal("row remapping failed: the GPU has no spare memory rows left and needs service")
	}
	if h.RowRemapPending {
		note("a row remap is pending: it takes effect at the next GPU reset")
	}
	var trouble uint64
	for _, e := range clockEvents {
		if e.trouble {
			trouble |= e.bit
		}
	}
	if reasons := ClockEventNames(h.ClockEventReasons & trouble); len(reasons) > 0 {
		note("clocks are held down: %s", strings.Join(reasons, ", "))
	}
	if used := h.MemoryUsedBytes >> 20; h.Processes > 0 || used > busyMemMiB {
		procs := "an unknown number of"
		if h.Processes >= 0 {
			procs = fmt.Sprint(h.Processes)
		}
		note("already busy: %s process(es), %d MiB in use", procs, used)
	}
	if g.PersistenceMode == "disabled" {
		note("persistence mode is off: each process pays the driver start-up and clocks reset between runs")
	}
	return out
}

// Fatal returns the findings that fail preflight.
func (f *Facts) Fatal() []Finding {
	var out []Finding
	for _, h := range f.Health {
		if h.Severity == Fatal {
			out = append(out, h)
		}
	}
	return out
}

// LinkAtLoad is the PCIe rule, the same for a single run and each GPU of a node: a Note when
// GPU g's link, in its samples at load over p's step (Peaks.Load), was below the generation or
// width the GPU and its slot support (GPU.PCIeGen, PCIeWidth). A link that is slower only while
// idle is power saving, not a fault. False when g had no sample at load, or when NVML could not
// read the link or the maximum.
func LinkAtLoad(g GPU, p Peaks) (Finding, bool) {
	l := p.Load(g.Index)
	below := func(cur, most int) bool { return cur > 0 && most > 0 && cur < most }
	if l.Samples == 0 || !below(l.MinPCIeGen, g.PCIeGen) && !below(l.MinPCIeWidth, g.PCIeWidth) {
		return Finding{}, false
	}
	return Finding{Severity: Note, GPU: g.Index, Message: fmt.Sprintf("GPU %d: PCIe link at %s under load, below its maximum %s",
		g.Index, pcieLink(l.MinPCIeGen, l.MinPCIeWidth), pcieLink(g.PCIeGen, g.PCIeWidth))}, true
}

// pcieLink is "gen 4 x16"; an unknown value (0) is "?".
func pcieLink(gen, width int) string {
	known := func(v int) string {
		if v <= 0 {
			return "?"
		}
		return strconv.Itoa(v)
	}
	return "gen " + known(gen) + " x" + known(width)
}

// String is one GPU's samples at load in a phrase, for the report of a slow GPU: "GPU 3 at load
// (12 samples): SM clock down to 1410 MHz; clock events: HW slowdown; PCIe gen 3 x4".
func (l LoadPeaks) String() string {
	if l.Samples == 0 {
		return fmt.Sprintf("GPU %d: no sample at load", l.GPU)
	}
	s := fmt.Sprintf("GPU %d at load (%d samples): SM clock down to %d MHz", l.GPU, l.Samples, l.MinSMClockMHz)
	if len(l.ClockEvents) > 0 {
		s += "; clock events: " + strings.Join(l.ClockEvents, ", ")
	}
	return s + "; PCIe " + pcieLink(l.MinPCIeGen, l.MinPCIeWidth)
}
