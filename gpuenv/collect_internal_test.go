package gpuenv

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCUDAVersion(t *testing.T) {
	for v, want := range map[int]string{12040: "12.4", 12060: "12.6", 11080: "11.8", 12010: "12.1", 13000: "13.0", 0: ""} {
		require.Equal(t, want, cudaVersion(v), "%d", v)
	}
}

// gpuenv cannot reach the machine's NVML itself (that is nvmlbind, which imports gpuenv): a
// caller that forgets the library is told so instead of getting facts of no GPU.
func TestCollectNeedsALibrary(t *testing.T) {
	f, err := Collect(context.Background(), Options{Strict: true})
	require.EqualError(t, err, "gpuenv.Collect: Options.Lib is nil (nvmlbind.New() is this machine's NVML)")
	require.Nil(t, f)
}
