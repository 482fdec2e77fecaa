//go:build fakegpu

package smoke

import (
	"fmt"
	"os"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

// nvmlLibrary, built with -tags fakegpu for the suite's own tests, is a fake GPU from go-nvml's
// mock server instead of the machine's NVML, so the GPU path (strict preflight, telemetry, Xid)
// runs end to end without one. SMOKE_FAKE_GPU picks it (gpufake.Parse): "rtx4090" (the default)
// or "h200", then comma-separated faults, each on GPU 0 or on the GPU "@<index>" names:
// "xid=<n>", "ecc", "busy", "throttle", "load", "pcie=<gen>x<width>" ("h200,xid=79@3,load@5").
func nvmlLibrary() (gpuenv.Library, string, error) {
	spec := os.Getenv("SMOKE_FAKE_GPU")
	f, name, err := gpufake.Parse(spec)
	if err != nil {
		return nil, "", fmt.Errorf("SMOKE_FAKE_GPU=%s: %w", spec, err)
	}
	return nvmlbind.FromNVML(f), "fake " + name + " (-tags fakegpu)", nil
}
