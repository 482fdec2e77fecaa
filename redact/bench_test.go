package redact

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	r := New(benchSecrets)
	if got := bytes.Count(r.Bytes(data), []byte(Marker("HF_TOKEN"))); got != 64 {
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
