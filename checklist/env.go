package checklist

import (
	"fmt"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/gpuenv"
)

const notRecorded = "not recorded"

// envPackages are the Python packages the environment table shows, in order.
var envPackages = []string{"diffusers", "transformers", "datasets", "torchvision", "accelerate", "numpy", "Pillow"}

// envFields are the environment table's rows, in order; the matrix shows the same rows.
var envFields = []string{
	"GPU", "GPU settings", "Driver", "CUDA (driver)", "Torch CUDA build", "NVML", "Python", "PyTorch",
	"diffusers", "transformers", "datasets", "torchvision", "accelerate", "numpy", "Pillow",
	"OS", "Kernel", "Host", "CPU", "RAM", "Instance", "Health", "Notes",
}

// envRows are the environment table's rows as unescaped field/value pairs.
func envRows(e *Evidence) [][2]string {
	vals := envValues(e)
	rows := make([][2]string, 0, len(envFields))
	for _, f := range envFields {
		rows = append(rows, [2]string{f, vals[f]})
	}
	if e.Env != nil {
		var extra []string
		for k := range e.Env.Python.Packages {
			if !slices.Contains(envPackages, k) {
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

func envValues(e *Evidence) map[string]string {
	v := map[string]string{}
	for _, f := range envFields {
		v[f] = notRecorded
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
		v["GPU"] = "NVML unavailable: " + orDash(n.Error)
	} else {
		v["GPU"] = gpuList(n.GPUs)
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
		v["Python"] = p.Version + paren2(exe)
	}
	t := p.Torch
	if t.Error != "" {
		v["PyTorch"] = strings.TrimSpace(t.Version + " (error: " + t.Error + ")")
	} else if t.Version != "" {
		s := t.Version
		if t.Version != gpuenv.NotInstalled {
			s += fmt.Sprintf("; CUDA available: %s; bf16: %s", yesNo(t.CUDAAvailable), yesNo(t.BF16Supported))
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
	for _, pkg := range envPackages {
		set(pkg, p.Packages[pkg])
	}

	h := f.Host
	set("OS", h.OS)
	set("Kernel", h.Kernel)
	if h.Hostname != "" {
		v["Host"] = h.Hostname + paren2(h.Arch)
	}
	if h.CPUModel != "" || h.CPUCores > 0 {
		s := orDash(h.CPUModel)
		if h.CPUCores > 0 {
			s += fmt.Sprintf(", %d cores", h.CPUCores)
		}
		v["CPU"] = s
	}
	if h.MemoryBytes > 0 {
		v["RAM"] = humanSize(int64(h.MemoryBytes))
		if h.MemoryLimitBytes > 0 {
			v["RAM"] += " (container limit " + humanSize(int64(h.MemoryLimitBytes)) + ")"
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

func paren2(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func mib(b uint64) string { return fmt.Sprintf("%d MiB", b/(1<<20)) }

// gpuList is "NVIDIA GeForce RTX 4090, 24564 MiB, cc 8.9" per GPU, prefixed by the index
// when there are several.
func gpuList(gpus []gpuenv.GPU) string {
	if len(gpus) == 0 {
		return "none found by NVML"
	}
	var parts []string
	for _, g := range gpus {
		s := fmt.Sprintf("%s, %s", g.Name, mib(g.MemoryTotalBytes))
		if g.ComputeCapability != "" {
			s += ", cc " + g.ComputeCapability
		}
		if len(gpus) > 1 {
			s = fmt.Sprintf("%d: %s", g.Index, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
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
		return notRecorded
	}
	return strings.Join(parts, "; ")
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

// gpuShort is the GPU model(s) and memory in a few words: "NVIDIA GeForce RTX 4090 (24564 MiB)"
// or "8× NVIDIA H200 (143771 MiB each)".
func gpuShort(e *Evidence) string {
	if e.Env == nil {
		return notRecorded
	}
	gs := e.Env.NVML.GPUs
	if !e.Env.NVML.Available {
		return "no GPU (NVML unavailable)"
	}
	if len(gs) == 0 {
		return "no GPU found"
	}
	same := true
	for _, g := range gs[1:] {
		if g.Name != gs[0].Name || g.MemoryTotalBytes != gs[0].MemoryTotalBytes {
			same = false
		}
	}
	if len(gs) == 1 {
		return fmt.Sprintf("%s (%s)", gs[0].Name, mib(gs[0].MemoryTotalBytes))
	}
	if same {
		return fmt.Sprintf("%d× %s (%s each)", len(gs), gs[0].Name, mib(gs[0].MemoryTotalBytes))
	}
	return gpuList(gs)
}
