package gpuenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// onPath puts an executable nvidia-smi with the given script alone on PATH.
func onPath(t *testing.T, script string) string {
	dir := t.TempDir()
	if script != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte(script), 0o755))
	}
	t.Setenv("PATH", dir)
	return filepath.Join(dir, "nvidia-smi")
}

func TestNvidiaSMIMissing(t *testing.T) {
	onPath(t, "")
	out := NvidiaSMI(context.Background())
	require.True(t, strings.HasPrefix(out, "nvidia-smi not found: "), out)
}

func TestNvidiaSMIOutputIsKeptVerbatim(t *testing.T) {
	onPath(t, "#!/bin/sh\necho '| NVIDIA-SMI 560.35.03    Driver Version: 560.35.03    CUDA Version: 12.6 |'\n")
	require.Equal(t, "| NVIDIA-SMI 560.35.03    Driver Version: 560.35.03    CUDA Version: 12.6 |\n", NvidiaSMI(context.Background()))
}

func TestNvidiaSMIFailureIsAppended(t *testing.T) {
	path := onPath(t, "#!/bin/sh\necho 'NVIDIA-SMI has failed because it couldn'\"'\"'t communicate with the NVIDIA driver.'\nexit 9\n")
	require.Equal(t, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n\n["+path+": exit status 9]\n", NvidiaSMI(context.Background()))
}

func TestNvidiaSMITimesOut(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	path := onPath(t, "#!/bin/sh\necho partial\nexec "+sleep+" 30\n")
	old := smiTimeout
	smiTimeout = 200 * time.Millisecond
	defer func() { smiTimeout = old }()
	start := time.Now()
	out := NvidiaSMI(context.Background())
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, "partial\n\n["+path+" timed out after 200ms]\n", out)
}
