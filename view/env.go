package view

import (
	"fmt"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/gpuenv"
)

// EnvPackages are the Python packages the environment table shows, in order.
var EnvPackages = []string{"diffusers", "transformers", "datasets", "torchvision", "accelerate", "numpy", "Pillow"}

// envFields are the environment table's rows, in order; the matrix shows the same rows.
var envFields = []string{
	"GPU", "GPU settings", "Driver", "CUDA (driver)", "Torch CUDA build", "NVML", "Python", "PyTorch",
	"diffusers", "transformers", "datasets", "torchvision", "accelerate", "numpy", "Pillow",
	"OS", "Kernel", "Host", "CPU", "RAM", "Instance", "Health", "Notes",
}

// EnvRows are the environment table's rows as unescaped field/value pairs.
func (e *Evidence) EnvRows() [][2]string {
	vals := e.EnvValues()
	rows := make([][2]string, 0, len(envFields))
	for _, f := range envFields {
		rows = append(rows, [2]string{f, vals[f]})
	}
	if e.Env != nil {
		var extra []string
		for k := range e.Env.Python.Packages {
			if !slices.Contains(EnvPackages, k) {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range extra {
			rows = append(rows, [2]string{k, e.Env.Python.Packages[k]})
		}
	}
	return rows
}

// EnvValues are the environment table's values by field, unescaped: each fact said once, here.
func (e *Evidence) EnvValues() map[string]string {
	v := map[string]string{}
	for _, f := range envFields {
		v[f] = NotRecorded
	}
	set := func(k, val string) {
		if val != "" {
			v[k] = val
		}
	}
	f := e.Env
	if f == nil {
		v["GPU"] = "not recorded (no gpu_env.json)"
		if e.Run.Python != "" {
			v["Python"] = "interpreter " + e.Run.Python + "; version not recorded"
		}
		return v
	}
	n := f.NVML
	if !n.Available {
		v["GPU"] = "NVML unavailable: " + OrDash(n.Error)
	} else {
		v["GPU"] = GPUList(n.GPUs)
		v["GPU settings"] = gpuSettings(n.GPUs)
	}
	set("Driver", n.DriverVersion)
	set("CUDA (driver)", n.CUDADriverVersion)
	set("NVML", n.NVMLVersion)
	pythonValues(f.Python, set)
	hostValues(f.Host, set)
	v["Health"] = e.healthValue()
	v["Notes"] = "none"
	if len(f.Notes) > 0 {
		v["Notes"] = strings.Join(f.Notes, "; ")
	}
	return v
}

// pythonValues sets the rows of the Python probe: the interpreter, torch and its CUDA build,
// and the packages.
func pythonValues(p gpuenv.Python, set func(k, val string)) {
	switch {
	case p.Error != "":
		set("Python", "probe failed: "+p.Error)
	case p.Version != "":
		exe := p.Executable
		if exe == "" {
			exe = p.Interpreter
		}
		set("Python", p.Version+Paren(exe))
	}
	t := p.Torch
	if t.Error != "" {
		set("PyTorch", strings.TrimSpace(t.Version+" (error: "+t.Error+")"))
	} else if t.Version != "" {
		s := t.Version
		if t.Version != gpuenv.NotInstalled {
			s += fmt.Sprintf("; CUDA available: %s; bf16: %s", YesNo(t.CUDAAvailable), YesNo(t.BF16Supported))
			if len(t.Devices) > 0 {
				s += "; devices: " + strings.Join(t.Devices, ", ")
			}
		}
		set("PyTorch", s)
	}
	if t.CUDA != "" {
		s := t.CUDA
		if t.CuDNN != "" {
			s += "; cuDNN " + t.CuDNN
		}
		set("Torch CUDA build", s)
	} else if t.Version != "" && t.Version != gpuenv.NotInstalled {
		set("Torch CUDA build", "none (CPU build)")
	}
	for _, pkg := range EnvPackages {
		set(pkg, p.Packages[pkg])
	}
}

// hostValues sets the rows of the host: OS, kernel, name, CPU, memory and instance type.
func hostValues(h gpuenv.Host, set func(k, val string)) {
	set("OS", h.OS)
	set("Kernel", h.Kernel)
	if h.Hostname != "" {
		set("Host", h.Hostname+Paren(h.Arch))
	}
	if h.CPUModel != "" || h.CPUCores > 0 {
		s := OrDash(h.CPUModel)
		if h.CPUCores > 0 {
			s += fmt.Sprintf(", %d cores", h.CPUCores)
		}
		set("CPU", s)
	}
	if h.MemoryBytes > 0 {
		s := HumanSize(int64(h.MemoryBytes))
		if h.MemoryLimitBytes > 0 {
			s += " (container limit " + HumanSize(int64(h.MemoryLimitBytes)) + ")"
		}
		set("RAM", s)
	}
	set("Instance", strings.TrimSpace(h.SysVendor+" "+h.ProductName))
}

// healthValue is the Health row: preflight's findings (each message names its GPU) and those
// made while the steps ran (run.json's health).
func (e *Evidence) healthValue() string {
	var hs []string
	for _, fd := range e.Env.Health {
		hs = append(hs, string(fd.Severity)+": "+fd.Message)
	}
	for _, h := range e.Run.Health {
		hs = append(hs, string(gpuenv.Note)+": "+h)
	}
	if len(hs) == 0 {
		return "no findings"
	}
	return strings.Join(hs, "; ")
}

func gpuSettings(gpus []gpuenv.GPU) string {
	var parts []string
	for _, g := range gpus {
		s := fmt.Sprintf("persistence %s, ECC %s, MIG %s", orNA(g.PersistenceMode), orNA(g.ECCMode), orNA(g.MIGMode))
		if g.PowerLimitWatts > 0 {
			s += fmt.Sprintf(", power limit %g W", g.PowerLimitWatts)
		}
		if g.PCIeGen > 0 {
			s += fmt.Sprintf(", PCIe gen%d x%d", g.PCIeGen, g.PCIeWidth)
		}
		if len(gpus) > 1 {
			s = fmt.Sprintf("%d: %s", g.Index, s)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return NotRecorded
	}
	return strings.Join(parts, "; ")
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}
