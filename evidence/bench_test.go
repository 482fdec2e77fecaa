package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/internal/benchratio"
)

// writeBenchLog writes a 64 MB training log: logging lines with losses and, now and then, a
// warning.
func writeBenchLog(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "bench.log")
	var buf bytes.Buffer
	for step := 0; buf.Len() < 64<<20; step++ {
		if step%100 == 0 {
			buf.WriteString("2026-03-02 09:15:00,000 - WARNING - /x/y.py:1: FutureWarning: deprecated\n")
		}
		fmt.Fprintf(&buf, "2026-03-02 09:15:00,000 - INFO - step=%d loss=%.6f\n", step, 1/float64(step+1))
	}
	if err := os.WriteFile(path, buf.Bytes()[:64<<20], 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchSecrets is the environment of a GPU instance: the secrets a training log may echo.
var benchSecrets = []string{
	"HOME=/root", "PATH=/usr/local/bin:/usr/bin",
	"HF_TOKEN=hf_" + strings.Repeat("aB3dE5gH7j", 3) + "kL0m",
	"WANDB_API_KEY=" + strings.Repeat("0123456789abcdef", 2) + "01234567",
	"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
	"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}

// BenchmarkRedactorWriter streams the 64 MB log (a secret every 1 MiB) from its file through
// Redactor.Writer to io.Discard, against io.Copy of the same file to io.Discard.
func BenchmarkRedactorWriter(b *testing.B) {
	data, err := os.ReadFile(writeBenchLog(b))
	if err != nil {
		b.Fatal(err)
	}
	token := strings.TrimPrefix(benchSecrets[2], "HF_TOKEN=")
	for off := 1 << 19; off+len(token) < len(data); off += 1 << 20 {
		copy(data[off:], token)
	}
	path := filepath.Join(b.TempDir(), "secrets.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	r := NewRedactor(benchSecrets)
	if got := bytes.Count(r.Bytes(data), []byte(Redacted("HF_TOKEN"))); got != 64 {
		b.Fatalf("%d secrets redacted, want 64", got)
	}
	data = nil
	benchratio.Family{
		Bytes:    64 << 20,
		Baseline: func() error { return benchratio.ReadFile(path) },
		Suite: func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			w := r.Writer(io.Discard)
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			return w.Close()
		},
	}.Run(b)
}

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
