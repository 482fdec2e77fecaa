package gpufake

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// faultWords lists the faults Parse knows, for its errors.
const faultWords = "xid=<n>, ecc, busy, throttle, load, pcie=<gen>x<width>; @<index> for a GPU other than 0"

// Parse builds a fake from a spec (the suite's SMOKE_FAKE_GPU): the machine, "rtx4090" (also
// for "") or "h200", then faults separated by commas, each on GPU 0 or on the GPU "@<index>"
// names: "h200,xid=79@3,ecc@2,pcie=3x4@5,load@5". The faults:
//
//   - xid=<n>: an Xid critical error (WithXid)
//   - ecc: 3 volatile uncorrectable ECC errors (WithECCErrors)
//   - busy: another process holding 18 GiB at 100% (WithBusy)
//   - throttle: clocks held down by a HW slowdown (WithThrottle)
//   - load: the run's own training load, from the start (WithLoad(TrainingLoad))
//   - pcie=<gen>x<width>: the link trained below its maximum (WithPCIeLink)
//
// It returns the fake and the machine's name ("DGX H200"). Errors are one line that names the
// item; the caller says which setting it was.
func Parse(spec string) (*Fake, string, error) {
	parts := strings.Split(spec, ",")
	var f *Fake
	var name string
	switch {
	case spec == "" || parts[0] == "rtx4090":
		f, name = NewRTX4090(), "RTX 4090"
	case parts[0] == "h200":
		f, name = NewH200(), "DGX H200"
	default:
		return nil, "", fmt.Errorf("unknown GPU %q (rtx4090, h200)", parts[0])
	}
	for _, p := range parts[1:] {
		o, err := parseFault(p, len(f.Devices))
		if err != nil {
			return nil, "", err
		}
		o(f)
	}
	return f, name, nil
}

// parseFault reads one fault of a spec on a fake of n GPUs.
func parseFault(item string, n int) (Option, error) {
	word, at, onGPU := strings.Cut(item, "@")
	gpu := 0
	if onGPU {
		i, err := strconv.Atoi(at)
		switch {
		case err != nil || i < 0 || strings.Trim(at, "0123456789") != "":
			return nil, fmt.Errorf("%s: %q is not a GPU index", item, at)
		case i >= n && n == 1:
			return nil, fmt.Errorf("%s: GPU %d does not exist: the fake has 1 GPU, 0", item, i)
		case i >= n:
			return nil, fmt.Errorf("%s: GPU %d does not exist: the fake has %d GPUs, 0-%d", item, i, n, n-1)
		}
		gpu = i
	}
	k, v, valued := strings.Cut(word, "=")
	var o Option
	switch k {
	case "xid":
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", item, v)
		}
		return OnGPU(gpu, WithXid(x)), nil
	case "pcie":
		g, w, _ := strings.Cut(v, "x")
		gen, err1 := strconv.Atoi(g)
		width, err2 := strconv.Atoi(w)
		if err1 != nil || err2 != nil || gen < 1 || width < 1 {
			return nil, fmt.Errorf("%s: %q is not <gen>x<width>, such as 3x4", item, v)
		}
		return OnGPU(gpu, WithPCIeLink(gen, width)), nil
	case "ecc":
		o = WithECCErrors(3)
	case "busy":
		o = WithBusy()
	case "throttle":
		o = WithThrottle(nvml.ClocksThrottleReasonHwSlowdown)
	case "load":
		o = WithLoad(TrainingLoad)
	default:
		return nil, fmt.Errorf("unknown fault %q (%s)", word, faultWords)
	}
	if valued {
		return nil, fmt.Errorf("%s: %s takes no value", item, k)
	}
	return OnGPU(gpu, o), nil
}
