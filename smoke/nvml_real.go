//go:build !fakegpu

package smoke

import (
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

// nvmlLibrary is the machine's NVIDIA management library.
func nvmlLibrary() (gpuenv.Library, string, error) { return nvmlbind.New(), "", nil }
