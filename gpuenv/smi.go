package gpuenv

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// smiTimeout bounds nvidia-smi, which can hang on a GPU that has fallen off the bus.
var smiTimeout = 15 * time.Second

// NvidiaSMI returns the output of a plain `nvidia-smi`, kept as evidence and never parsed. When
// the command is missing, fails or hangs, the text says so.
func NvidiaSMI(ctx context.Context) string {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return "nvidia-smi not found: " + err.Error() + "\n"
	}
	ctx, cancel := context.WithTimeout(ctx, smiTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		return string(out)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return string(out) + fmt.Sprintf("\n[%s timed out after %s]\n", path, smiTimeout)
	default:
		return string(out) + fmt.Sprintf("\n[%s: %v]\n", path, err)
	}
}
