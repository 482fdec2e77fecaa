package redact

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/internal/benchratio"
)

// benchData is 64 MB of a training log (logging lines with losses and, now and then, a
// warning) or of 76-column base64 of random bytes.
func benchData(kind string) []byte {
	var buf bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 57)
	for step := 0; buf.Len() < 64<<20; step++ {
		switch {
		case kind == "base64":
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			buf.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
		case step%100 == 0:
			buf.WriteString("2026-03-02 09:15:00,000 - WARNING - /x/y.py:1: FutureWarning: deprecated\n")
		default:
			fmt.Fprintf(&buf, "2026-03-02 09:15:00,000 - INFO - step=%d loss=%.6f\n", step, 1/float64(step+1))
		}
	}
	return buf.Bytes()[:64<<20]
}

// benchSecrets is the environment of a GPU instance: the secrets a training log may echo, and
// with many, as many more as make 50.
func benchSecrets(many bool) []string {
	env := []string{
		"HOME=/root", "PATH=/usr/local/bin:/usr/bin",
		"HF_TOKEN=hf_" + strings.Repeat("aB3dE5gH7j", 3) + "kL0m",
		"WANDB_API_KEY=" + strings.Repeat("0123456789abcdef", 2) + "01234567",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 4; many && i < 50; i++ {
		v := make([]byte, 16+r.IntN(48))
		for j := range v {
			v[j] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[r.IntN(64)]
		}
		env = append(env, fmt.Sprintf("SERVICE_%02d_API_KEY=%s", i, v))
	}
	return env
}

// BenchmarkRedactorWriter streams 64 MB of log lines or of base64 (a secret every 1 MiB) from
// a file through Redactor.Writer to io.Discard, with 4 secrets in the environment or 50,
// against io.Copy of the same file to io.Discard.
func BenchmarkRedactorWriter(b *testing.B) {
	for _, kind := range []string{"log", "base64"} {
		for _, many := range []bool{false, true} {
			env := benchSecrets(many)
			b.Run(fmt.Sprintf("%s/%d-secrets", kind, len(env)-2), func(b *testing.B) { benchWriter(b, kind, env) })
		}
	}
}

func benchWriter(b *testing.B, kind string, env []string) {
	data := benchData(kind)
	token := strings.TrimPrefix(env[2], "HF_TOKEN=")
	for off := 1 << 19; off+len(token) < len(data); off += 1 << 20 {
		copy(data[off:], token)
	}
	path := filepath.Join(b.TempDir(), "secrets.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	r := New(env)
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
