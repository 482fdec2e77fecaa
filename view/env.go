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
	set := func(k, val string) {
		if val != "" {
			v[k] = val
		}
	}
	set("Driver", n.DriverVersion)
	set("CUDA (driver)", n.CUDADriverVersion)
	set("NVML", n.NVMLVersion)

	p := f.Python
	switch {
	case p.Error != "":
		v["Python"] = "probe failed: " + p.Error
	case p.Version != "":
		exe := p.Executable
		if exe == "" {
			exe = p.Interpreter
		}
		v["Python"] = p.Version + Paren(exe)
	}
	t := p.Torch
	if t.Error != "" {
		v["PyTorch"] = strings.TrimSpace(t.Version + " (error: " + t.Error + ")")
	} else if t.Version != "" {
		s := t.Version
		if t.Version != gpuenv.NotInstalled {
			s += fmt.Sprintf("; CUDA available: %s; bf16: %s", YesNo(t.CUDAAvailable), YesNo(t.BF16Supported))
			if len(t.Devices) > 0 {
				s += "; devices: " + strings.Join(t.Devices, ", ")
			}
		}
		v["PyTorch"] = s
	}
	if t.CUDA != "" {
		s := t.CUDA
		if t.CuDNN != "" {
			s += "; cuDNN " + t.CuDNN
		}
		v["Torch CUDA build"] = s
	} else if t.Version != "" && t.Version != gpuenv.NotInstalled {
		v["Torch CUDA build"] = "none (CPU build)"
	}
	for _, pkg := range EnvPackages {
		set(pkg, p.Packages[pkg])
	}

	h := f.Host
	set("OS", h.OS)
	set("Kernel", h.Kernel)
	if h.Hostname != "" {
		v["Host"] = h.Hostname + Paren(h.Arch)
	}
	if h.CPUModel != "" || h.CPUCores > 0 {
		s := OrDash(h.CPUModel)
		if h.CPUCores > 0 {
			s += fmt.Sprintf(", %d cores", h.CPUCores)
		}
		v["CPU"] = s
	}
	if h.MemoryBytes > 0 {
		v["RAM"] = HumanSize(int64(h.MemoryBytes))
		if h.MemoryLimitBytes > 0 {
			v["RAM"] += " (container limit " + HumanSize(int64(h.MemoryLimitBytes)) + ")"
		}
	}
	set("Instance", strings.TrimSpace(h.SysVendor+" "+h.ProductName))

	if len(f.Health) == 0 {
		v["Health"] = "no findings"
	} else {
		var hs []string
		for _, fd := range f.Health {
			s := string(fd.Severity) + ": "
			if fd.GPU >= 0 {
				s += fmt.Sprintf("GPU %d: ", fd.GPU)
			}
			hs = append(hs, s+fd.Message)
		}
		v["Health"] = strings.Join(hs, "; ")
	}
	if len(f.Notes) == 0 {
		v["Notes"] = "none"
	} else {
		v["Notes"] = strings.Join(f.Notes, "; ")
	}
	return v
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
