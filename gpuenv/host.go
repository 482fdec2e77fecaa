package gpuenv

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// readHost reads the host facts from the file tree under root ("/" on a real machine). Files
// that are missing or unreadable leave their fields empty.
func readHost(root string) Host {
	h := Host{
		OS:       runtime.GOOS,
		Arch:     runtime.GOARCH,
		CPUCores: runtime.NumCPU(),
	}
	h.Hostname, _ = os.Hostname()
	file := func(p string) string { return filepath.Join(root, p) }
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if v := keyValue(file(p), "PRETTY_NAME", "="); v != "" {
			h.OS = unquote(v)
			break
		}
	}
	h.Kernel = firstLine(file("proc/sys/kernel/osrelease"))
	// x86 names the model; ARM server kernels (Grace) name no model at all.
	for _, key := range []string{"model name", "Model", "Hardware"} {
		if v := keyValue(file("proc/cpuinfo"), key, ":"); v != "" {
			h.CPUModel = v
			break
		}
	}
	if v := keyValue(file("proc/meminfo"), "MemTotal", ":"); v != "" {
		kb, _ := strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64)
		h.MemoryBytes = kb * 1024
	}
	if v, err := strconv.ParseUint(firstLine(file("sys/fs/cgroup/memory.max")), 10, 64); err == nil {
		h.MemoryLimitBytes = v // "max" when there is no limit
	}
	h.SysVendor = firstLine(file("sys/class/dmi/id/sys_vendor"))
	h.ProductName = firstLine(file("sys/class/dmi/id/product_name"))
	return h
}

// firstLine returns the trimmed first line of a file, or "" when it cannot be read.
func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// keyValue returns the trimmed value of the first "key<sep>value" line of a file.
func keyValue(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// unquote strips os-release quoting: PRETTY_NAME="Ubuntu 22.04.4 LTS".
func unquote(v string) string {
	if s, err := strconv.Unquote(v); err == nil {
		return s
	}
	return strings.Trim(v, `"'`)
}
