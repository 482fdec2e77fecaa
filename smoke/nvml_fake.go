//go:build fakegpu

package smoke

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

// nvmlLibrary, built with -tags fakegpu for the suite's own tests, is a fake GPU from go-nvml's
// mock server instead of the machine's NVML, so the GPU path (strict preflight, telemetry, Xid)
// runs end to end without one. SMOKE_FAKE_GPU picks it: "rtx4090" (the default) or "h200",
// then comma-separated faults: "xid=<n>", "ecc", "busy".
func nvmlLibrary() (gpuenv.Library, string, error) {
	spec := os.Getenv("SMOKE_FAKE_GPU")
	if spec == "" {
		spec = "rtx4090"
	}
	parts := strings.Split(spec, ",")
	var opts []gpufake.Option
	for _, p := range parts[1:] {
		switch k, v, _ := strings.Cut(p, "="); k {
		case "xid":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, "", fmt.Errorf("SMOKE_FAKE_GPU=%s: xid=%s is not a number", spec, v)
			}
			opts = append(opts, gpufake.WithXid(n))
		case "ecc":
			opts = append(opts, gpufake.WithECCErrors(3))
		case "busy":
			opts = append(opts, gpufake.WithBusy())
		default:
			return nil, "", fmt.Errorf("SMOKE_FAKE_GPU=%s: unknown fault %q (xid=<n>, ecc, busy)", spec, p)
		}
	}
	switch parts[0] {
	case "rtx4090":
		return nvmlbind.FromNVML(gpufake.NewRTX4090(opts...)), "fake RTX 4090 (-tags fakegpu)", nil
	case "h200":
		return nvmlbind.FromNVML(gpufake.NewH200(opts...)), "fake DGX H200 (-tags fakegpu)", nil
	}
	return nil, "", fmt.Errorf("SMOKE_FAKE_GPU=%s: unknown GPU %q (rtx4090, h200)", spec, parts[0])
}
