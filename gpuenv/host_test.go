package gpuenv

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadHost(t *testing.T) {
	hostname, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, Host{
		Hostname:         hostname,
		OS:               "Ubuntu 22.04.4 LTS",
		Kernel:           "6.5.0-1024-aws",
		Arch:             runtime.GOARCH,
		CPUModel:         "AMD EPYC 7B13 64-Core Processor",
		CPUCores:         runtime.NumCPU(),
		MemoryBytes:      131811452 * 1024,
		MemoryLimitBytes: 64 << 30,
		SysVendor:        "Amazon EC2",
		ProductName:      "g6e.xlarge",
	}, readHost("testdata/host"))
}

// An ARM server: os-release only under /usr/lib, single-quoted; no CPU model, DMI or cgroup
// limit; no kernel file. The empty fields stay empty, the OS is still read.
func TestReadHostSparse(t *testing.T) {
	h := readHost("testdata/hostarm")
	require.Equal(t, "Debian GNU/Linux 12 (bookworm)", h.OS)
	require.Empty(t, h.CPUModel)
	require.Empty(t, h.Kernel)
	require.Empty(t, h.SysVendor)
	require.Zero(t, h.MemoryLimitBytes)
	require.Zero(t, h.MemoryBytes)
}

func TestReadHostFallsBackToGOOS(t *testing.T) {
	require.Equal(t, runtime.GOOS, readHost(t.TempDir()).OS)
}

// This machine, as Collect reads it.
func TestReadHostHere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	h := readHost("/")
	require.NotEmpty(t, h.Kernel)
	require.NotZero(t, h.MemoryBytes)
	require.NotEqual(t, "linux", h.OS, "PRETTY_NAME from /etc/os-release")
}
