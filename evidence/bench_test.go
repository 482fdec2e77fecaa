package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/difftrain/gpusmoke/internal/benchratio"
)

// BenchmarkWriteSums is WriteSums over a 20 MB evidence directory (two 8 MB checkpoints, logs,
// telemetry, JSON), against hashing the same files with crypto/sha256 and nothing more.
func BenchmarkWriteSums(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	files := map[string]int{
		"artifacts/04-train/checkpoint-1.pt": 8 << 20, "artifacts/04-train/checkpoint-2.pt": 8 << 20,
		"telemetry.csv": 1 << 20, "junit.xml": 40 << 10, "go-test.json": 200 << 10,
		"run.json": 4 << 10, "gpu_env.json": 4 << 10, "nvidia-smi.txt": 2 << 10,
		"checklist.md": 8 << 10, "report.md": 4 << 10, "mvp_smoke_checklist.md": 8 << 10,
		"artifacts/03-validate/env.json": 1 << 10, "artifacts/03-validate/config.resolved.yaml": 2 << 10,
		"artifacts/03-validate/run_manifest.json": 3 << 10,
	}
	for i, name := range []string{"00-preflight", "01-install", "02-dataset", "03-validate", "04-train", "05-artifacts", "06-resume", "07-amp-fp16", "08-amp-bf16"} {
		files[fmt.Sprintf("logs/%s.log", name)] = (i%3 + 1) * 400 << 10
	}
	var paths []string
	var total int64
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		size := files[rel]
		p := filepath.Join(dir, filepath.FromSlash(rel))
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.UintN(256))
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
		total += int64(size)
	}
	slices.Sort(paths)
	benchratio.Family{
		Bytes: total,
		Baseline: func() error {
			for _, p := range paths {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				h := sha256.New()
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return err
				}
				_ = hex.EncodeToString(h.Sum(nil))
			}
			return nil
		},
		Suite: func() error { return WriteSums(dir) },
	}.Run(b)
}
