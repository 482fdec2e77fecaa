package artifacts

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The logs under testdata/logs are recorded from real runs by testdata/logs/record.sh.
func TestFailureCause(t *testing.T) {
	type testCase struct {
		log  string
		want string
	}
	run := func(t *testing.T, tc testCase) {
		c, err := FailureCause(filepath.Join("testdata/logs", tc.log))
		require.NoError(t, err)
		require.Equal(t, tc.want, c.String())
	}
	for _, tc := range []testCase{
		{"pip-no-index.log", "ERROR: No matching distribution found for setuptools>=68"},
		{"pip-externally-managed.log", "error: externally-managed-environment"},
		{"missing-extras.log", "ModuleNotFoundError: No module named 'datasets' (raised as ImportError: Missing optional dependencies. Install with `pip install -e .[text2image]`.)"},
		{"cuda-oom.log", "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 23.65 GiB total capacity; 23.10 GiB already allocated; 3.19 MiB free; 23.31 GiB reserved in total by PyTorch)"},
		{"cuda-cuda.log", "RuntimeError: CUDA error: an illegal memory access was encountered"},
		{"cuda-nccl.log", "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1269, unhandled system error, NCCL version 2.14.3"},
	} {
		t.Run(tc.log, func(t *testing.T) { run(t, tc) })
	}
}

// Logs written here: the edge cases no recorded run shows.
func TestFailureCauseEdges(t *testing.T) {
	for _, tc := range []struct{ name, log, want string }{
		{"unchained tracebacks: the last one's", "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: handled earlier\n" +
			"some output\nTraceback (most recent call last):\n  File \"b.py\", line 2, in <module>\nKeyError: 'x'\n", "KeyError: 'x'"},
		{"a CUDA error logged apart from the exception", "host:1:1 [0] NCCL INFO NCCL error: unhandled cuda error\n" +
			"Traceback (most recent call last):\n  File \"b.py\", line 2, in <module>\nRuntimeError: collective failed\n",
			"RuntimeError: collective failed; host:1:1 [0] NCCL INFO NCCL error: unhandled cuda error"},
		{"the first CUDA error is the cause, later ones are its consequences", "step=1 loss=0.5\n" +
			"RuntimeError: CUDA error: an illegal memory access was encountered\n" +
			"host:1:1 [0] NCCL INFO NCCL error: unhandled cuda error\n",
			"RuntimeError: CUDA error: an illegal memory access was encountered"},
		{"a frame that quotes an error is not the error", "Traceback (most recent call last):\n  File \"c.py\", line 3, in f\n    raise X(\"CUDA error: y\")\nX: z\n", "X: z"},
		{"nothing to say", "step=1 loss=0.5\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "step.log")
			require.NoError(t, os.WriteFile(p, []byte(tc.log), 0o644))
			c, err := FailureCause(p)
			require.NoError(t, err)
			require.Equal(t, tc.want, c.String())
		})
	}
}

func TestFailureCauseMissingLog(t *testing.T) {
	_, err := FailureCause(filepath.Join(t.TempDir(), "nope.log"))
	require.ErrorContains(t, err, "nope.log")
}
