package artifacts

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Cause is why a failed step failed, as its log tells it. Each field is one line, "" when the
// log has none.
type Cause struct {
	// Pip is pip's own error line (pip reports its failures as "ERROR: ..." or "error: ..."
	// lines, not tracebacks): the last specific one, e.g. "ERROR: No matching distribution
	// found for setuptools>=68.0" or "error: externally-managed-environment".
	Pip string
	// Root and Final are the first and the last exception of the log's last traceback chain
	// ("The above exception was the direct cause of the following exception:"): for difftrain's
	// missing extras, Root names the missing module and Final is the ImportError it raises.
	Root, Final string
	// CUDA is the first line that reports a CUDA, cuDNN, cuBLAS or NCCL error.
	CUDA string
}

// String is the cause in one line: pip's error, else the root exception (and what it became),
// with the CUDA error line when the exception does not already say it.
func (c Cause) String() string {
	var parts []string
	if c.Pip != "" {
		parts = append(parts, c.Pip)
	}
	if c.Root != "" {
		ex := c.Root
		if c.Final != "" && c.Final != c.Root {
			ex += " (raised as " + c.Final + ")"
		}
		parts = append(parts, ex)
	}
	if c.CUDA != "" && !strings.Contains(strings.Join(parts, " "), strings.TrimSpace(c.CUDA)) {
		parts = append(parts, c.CUDA)
	}
	return strings.Join(parts, "; ")
}

var (
	chainMarkers = [][]byte{
		[]byte("The above exception was the direct cause of the following exception:"),
		[]byte("During handling of the above exception, another exception occurred:"),
	}
	cudaErrors = [][]byte{
		[]byte("CUDA out of memory"), []byte("CUDA error"), []byte("CUDA driver"), []byte("NCCL error"),
		[]byte("cuDNN error"), []byte("CUBLAS_STATUS_"), []byte("CUDNN_STATUS_"), []byte("no CUDA-capable device"),
	}
	// pip's catch-all lines, which say only that the specific error came before.
	pipGeneric = []string{"subprocess-exited-with-error", "metadata-generation-failed", "Failed to build"}
)

// FailureCause reads a failed step's log for its cause. It reads line by line in bounded
// memory, looking at each line's first 64 KiB.
func FailureCause(logPath string) (Cause, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return Cause{}, fmt.Errorf("read log for the failure's cause: %w", err)
	}
	defer f.Close()
	var (
		c                   Cause
		inTraceback, linked bool // linked: a chain marker came after the last exception
		chain               []string
	)
	err = eachLine(f, 64<<10, func(line []byte) bool {
		trimmed := bytes.TrimSpace(line)
		switch {
		case len(trimmed) == 0:
			return true
		case bytes.HasPrefix(trimmed, tracebackBytes):
			if !linked {
				chain = chain[:0]
			}
			inTraceback, linked = true, false
			return true
		case inTraceback && (line[0] == ' ' || line[0] == '\t'):
			return true // a frame: source lines may quote any error text
		case inTraceback:
			inTraceback = false
			chain = append(chain, clip(string(trimmed), LineClip))
		case isChainMarker(trimmed):
			linked = true
			return true
		}
		if bytes.HasPrefix(trimmed, []byte("ERROR: ")) || bytes.HasPrefix(trimmed, []byte("error: ")) {
			if s := string(trimmed); !containsAny(s, pipGeneric) {
				c.Pip = clip(s, LineClip)
			}
		}
		if c.CUDA == "" && containsAnyBytes(trimmed, cudaErrors) {
			c.CUDA = clip(string(trimmed), LineClip)
		}
		return true
	})
	if err != nil {
		return Cause{}, fmt.Errorf("read log %s: %w", logPath, err)
	}
	if len(chain) > 0 {
		c.Root, c.Final = chain[0], chain[len(chain)-1]
	}
	return c, nil
}

func isChainMarker(line []byte) bool {
	for _, m := range chainMarkers {
		if bytes.Equal(line, m) {
			return true
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func containsAnyBytes(b []byte, subs [][]byte) bool {
	for _, sub := range subs {
		if bytes.Contains(b, sub) {
			return true
		}
	}
	return false
}
