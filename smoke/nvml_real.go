//go:build !fakegpu

package smoke

import "github.com/difftrain/gpusmoke/gpuenv"

// nvmlLibrary is the machine's NVIDIA management library.
func nvmlLibrary() (gpuenv.Library, string, error) { return gpuenv.RealNVML(), "", nil }
