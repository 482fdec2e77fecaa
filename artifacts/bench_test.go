package artifacts

import (
	"github.com/difftrain/gpusmoke/internal/benchratio"

	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkScanLog is ScanLog over a 64 MB training log with a 10 MB line (writeBenchLog),
// against reading the same file into io.Discard.
func BenchmarkScanLog(b *testing.B) {
	path := writeBenchLog(b)
	benchratio.Family{
		Bytes:    64 << 20,
		Baseline: func() error { return benchratio.ReadFile(path) },
		Suite: func() error {
			_, err := ScanLog(path)
			return err
		},
	}.Run(b)
}

// BenchmarkReadCheckpoint is ReadCheckpoint on a recorded fp16 checkpoint, against opening
// the same archive with archive/zip and reading its data.pkl, and nothing more.
func BenchmarkReadCheckpoint(b *testing.B) {
	path := filepath.Join(input, "checkpoints", "good", "fp16", "checkpoint-2.pt")
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	benchratio.Family{
		Bytes: st.Size(),
		Baseline: func() error {
			zr, err := zip.OpenReader(path)
			if err != nil {
				return err
			}
			defer zr.Close()
			for _, f := range zr.File {
				if strings.HasSuffix(f.Name, "/data.pkl") {
					rc, err := f.Open()
					if err != nil {
						return err
					}
					defer rc.Close()
					_, err = io.ReadAll(rc)
					return err
				}
			}
			return fmt.Errorf("%s: no data.pkl", path)
		},
		Suite: func() error {
			_, err := ReadCheckpoint(path)
			return err
		},
	}.Run(b)
}
