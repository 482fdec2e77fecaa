package gpuenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options configure Collect.
type Options struct {
	Lib     Library       // the NVML to read (required): nvmlbind.New() is this machine's
	Python  string        // interpreter to probe; "" skips the probe
	Dir     string        // working directory for the probe
	Env     []string      // environment for the probe (nil = os.Environ())
	Timeout time.Duration // for the probe subprocess; 0 means 60s
	// Strict (the suite's -tags gpu) makes a missing NVML library, driver or GPU, and a failed
	// cross-check, an error.
	Strict bool
}

// NoGPUPrefix starts the error, and Facts.NVML.Error, when NVML has no driver or no GPU.
const NoGPUPrefix = "no NVIDIA driver/GPU: "

// Collect records the machine: NVML, the health preflight, the host and the Python stack.
//
// It returns an error only in strict mode (no driver or GPU, a failed cross-check) or when the
// interpreter is broken; the Facts are returned alongside so the evidence is kept. In strict mode
// a missing driver or GPU returns at once, before the Python probe. Health findings are not
// errors: see Facts.Fatal. A nil Options.Lib is a programming error: no Facts, and an error.
func Collect(ctx context.Context, o Options) (*Facts, error) {
	if o.Lib == nil {
		return nil, errors.New("gpuenv.Collect: Options.Lib is nil (nvmlbind.New() is this machine's NVML)")
	}
	f := &Facts{
		SchemaVersion: SchemaVersion,
		CollectedUTC:  time.Now().UTC().Format(time.RFC3339),
		NVML:          NVML{GPUs: []GPU{}},
		Host:          readHost("/"),
		Python:        Python{Interpreter: o.Python, Packages: map[string]string{}},
		Health:        []Finding{},
		Notes:         []string{},
	}
	if err := collectNVML(o.Lib, f); err != nil {
		f.NVML.Error = err.Error() // said once, there: not among the notes too
		if o.Strict {
			f.Python.Error = "not probed: " + err.Error()
			return f, err
		}
	}

	var errs []error
	if o.Python == "" {
		f.Python.Error = "not probed: no interpreter configured"
	} else {
		p, err := probePython(ctx, o)
		f.Python = p
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range crossCheck(f) {
		f.Notes = append(f.Notes, c.Message)
		if c.Severity == Fatal && (o.Strict || c.always) {
			f.Health = append(f.Health, c)
			if o.Strict {
				errs = append(errs, errors.New("cross-check: "+c.Message))
			}
		}
	}
	return f, errors.Join(errs...)
}

// collectNVML fills f.NVML and the health findings. Its error means no driver or no GPU.
func collectNVML(lib Library, f *Facts) error {
	if err := lib.Init(); err != nil {
		return fmt.Errorf("%s%w", NoGPUPrefix, err)
	}
	defer lib.Shutdown()
	if s, err := lib.System(); err != nil {
		f.Notes = append(f.Notes, err.Error())
	} else {
		f.NVML.DriverVersion = s.DriverVersion
		f.NVML.CUDADriverVersion = cudaVersion(s.CUDADriverVersion)
		f.NVML.NVMLVersion = s.NVMLVersion
	}
	n, err := lib.DeviceCount()
	if err != nil {
		return fmt.Errorf("%s%w", NoGPUPrefix, err)
	}
	if n == 0 {
		return fmt.Errorf("%sNVML found no GPU (driver %s)", NoGPUPrefix, f.NVML.DriverVersion)
	}
	f.NVML.Available = true
	for i := range n {
		g, err := lib.GPU(i) // g.Index is NVML's, not always i (Only)
		f.NVML.GPUs = append(f.NVML.GPUs, g)
		if err != nil {
			f.Health = append(f.Health, unreadable(g.Index, err))
			continue
		}
		h, err := lib.Health(i)
		if err != nil {
			f.Health = append(f.Health, unreadable(g.Index, err))
			continue
		}
		f.Health = append(f.Health, judge(g, h)...)
	}
	return nil
}

// cudaVersion renders NVML's CUDA version: 12040 is "12.4"; 0 (unknown) is "".
func cudaVersion(v int) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// crossCheck compares what torch sees with what NVML sees. A Fatal finding fails strict mode,
// and fails preflight in any mode when it is marked always; a Note is only shown.
func crossCheck(f *Facts) []Finding {
	t := f.Python.Torch
	if f.Python.Error != "" || len(f.NVML.GPUs) == 0 {
		return nil
	}
	var out []Finding
	add := func(sev Severity, format string, args ...any) {
		out = append(out, Finding{Severity: sev, GPU: -1, Message: fmt.Sprintf(format, args...)})
	}
	if t.Version == NotInstalled {
		add(Note, "torch is not installed in %s", f.Python.Interpreter)
		return out
	}
	if t.Error != "" {
		add(Note, "torch %s: %s", t.Version, t.Error)
	}
	if !t.CUDAAvailable {
		why := ""
		if t.CUDA == "" {
			why = " (a CPU-only build)"
		}
		add(Fatal, "torch %s%s sees no CUDA device while NVML sees %d GPU(s): the run would train on the CPU", t.Version, why, len(f.NVML.GPUs))
		out[len(out)-1].always = true // a GPU machine whose torch cannot use it fails with or without -tags gpu
	}
	if tMaj, tMin, ok := majorMinor(t.CUDA); ok {
		if dMaj, dMin, ok := majorMinor(f.NVML.CUDADriverVersion); ok {
			switch {
			case tMaj > dMaj:
				add(Fatal, "torch %s is built for CUDA %s, newer than driver %s supports (CUDA %s)",
					t.Version, t.CUDA, f.NVML.DriverVersion, f.NVML.CUDADriverVersion)
			case tMaj == dMaj && tMin > dMin:
				add(Note, "torch %s is built for CUDA %s and driver %s supports CUDA %s: it runs through CUDA minor-version compatibility",
					t.Version, t.CUDA, f.NVML.DriverVersion, f.NVML.CUDADriverVersion)
			}
		}
	}
	var names []string
	for _, g := range f.NVML.GPUs {
		names = append(names, g.Name)
	}
	for i, d := range t.Devices {
		if !slices.Contains(names, d) {
			add(Fatal, "torch names cuda:%d %q but NVML reports %s", i, d, strings.Join(quoteAll(names), ", "))
		}
	}
	return out
}

// majorMinor parses "12.4" (and "12.4.1") into 12 and 4.
func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return slices.Compact(out)
}
