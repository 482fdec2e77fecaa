package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
)

const smiQuery = "--query-gpu=name,uuid,memory.total,driver_version,compute_cap,pci.bus_id --format=csv"

// fakeSMI puts an nvidia-smi on a new PATH folder that answers exactly device-check's query
// with the CSV file FAKE_SMI_CSV names, and refuses any other.
func fakeSMI(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	writeScript(t, filepath.Join(bin, "nvidia-smi"), `#!/bin/sh
[ "$*" = "`+smiQuery+`" ] || { echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 6; }
cat "$FAKE_SMI_CSV"
`)
	return bin
}

// deviceCheck runs scripts/device-check with the fake nvidia-smi first on PATH.
func deviceCheck(t *testing.T, csv string, env []string, args ...string) (result, string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "scripts", "device-check"))
	if err != nil {
		t.Fatal(err)
	}
	csvAbs, err := filepath.Abs(csv)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "device-check")
	env = append(baseEnv("PATH="+fakeSMI(t)+":"+os.Getenv("PATH"), "FAKE_SMI_CSV="+csvAbs, "DEVICE_CHECK_OUT="+out), env...)
	return run(t, t.TempDir(), env, append([]string{script}, args...)...), out
}

// evidenceWith is an evidence directory holding only the given gpu_env.json.
func evidenceWith(t *testing.T, gpuEnv string) string {
	t.Helper()
	b, err := os.ReadFile(gpuEnv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gpu_env.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDeviceCheckCompare compares a recorded gpu_env.json (an RTX 4090) with recorded nvidia-smi
// answers: matching ones, and one broken per field.
func TestDeviceCheckCompare(t *testing.T) {
	ev := evidenceWith(t, "testdata/device-check/gpu_env.json")
	for _, c := range []struct {
		csv  string
		code int
		want string // a line of the table, or of stderr
	}{
		{"match.csv", 0, "| 0 | memory.total | 24564 MiB | 24564 MiB | yes |"},
		{"match-short-domain.csv", 0, "| 0 | pci.bus_id | 00000000:01:00.0 | 0000:01:00.0 | yes |"},
		{"mismatch-name.csv", 1, "| 0 | name | NVIDIA GeForce RTX 4090 | NVIDIA GeForce RTX 4080 | **NO** |"},
		{"mismatch-uuid.csv", 1, "| 0 | uuid | GPU-5c1b7f0e-2d4a-4c9e-9a61-3f1d2b7c8e90 | GPU-00000000-2d4a-4c9e-9a61-3f1d2b7c8e90 | **NO** |"},
		{"mismatch-memory.csv", 1, "| 0 | memory.total | 24564 MiB | 24080 MiB | **NO** |"},
		{"mismatch-driver.csv", 1, "| 0 | driver_version | 550.54.15 | 550.54.14 | **NO** |"},
		{"mismatch-compute-cap.csv", 1, "| 0 | compute_cap | 8.9 | 8.6 | **NO** |"},
		{"mismatch-bus.csv", 1, "| 0 | pci.bus_id | 00000000:01:00.0 | 00000000:41:00.0 | **NO** |"},
		{"extra-gpu.csv", 1, "| - | GPU count | 1 | 2 | **NO** |"},
		{"no-compute-cap.csv", 2, "lacks compute_cap"},
	} {
		t.Run(c.csv, func(t *testing.T) {
			r, out := deviceCheck(t, filepath.Join("testdata/device-check", c.csv), nil, ev)
			if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.want) {
				t.Fatalf("want exit %d and %q, got %s", c.code, c.want, r)
			}
			if c.code == 2 {
				return
			}
			table, err := os.ReadFile(filepath.Join(out, "comparison.md"))
			if err != nil || !strings.Contains(string(table), c.want) {
				t.Errorf("comparison.md (%v) lacks %q:\n%s", err, c.want, table)
			}
			if _, err := os.Stat(filepath.Join(out, "nvidia-smi.csv")); err != nil {
				t.Error(err)
			}
			if c.code == 0 && strings.Contains(r.stdout, "**NO**") {
				t.Errorf("a matching run shows a mismatch:\n%s", r.stdout)
			}
		})
	}
}

// The operator's shell decides neither the table's encoding nor the verdict: a PYTHONIOENCODING
// that cannot write "—" (here latin-1) still gives the UTF-8 table and exit 0.
func TestDeviceCheckOperatorEncoding(t *testing.T) {
	ev := evidenceWith(t, "testdata/device-check/gpu_env.json")
	r, out := deviceCheck(t, "testdata/device-check/extra-gpu.csv", []string{"PYTHONIOENCODING=latin-1", "LC_ALL=C"}, ev)
	const row = "| 1 | name | — | NVIDIA GeForce RTX 4090 | **NO** |"
	if r.code != 1 || !strings.Contains(r.stdout, row) {
		t.Fatalf("want exit 1 and %q, got %s", row, r)
	}
	if table, err := os.ReadFile(filepath.Join(out, "comparison.md")); err != nil || !strings.Contains(string(table), row) {
		t.Errorf("comparison.md (%v) lacks %q:\n%s", err, row, table)
	}
}

// TestDeviceCheckCannotCompare: no NVML, no gpu_env.json, no nvidia-smi, a bad evidence path:
// each stops with exit 2 and one line that says why.
func TestDeviceCheckCannotCompare(t *testing.T) {
	match := "testdata/device-check/match.csv"
	t.Run("NVML unavailable", func(t *testing.T) {
		r, _ := deviceCheck(t, match, nil, evidenceWith(t, "testdata/device-check/gpu_env-no-nvml.json"))
		if r.code != 2 || !strings.Contains(r.stderr, "nvml.available is false: no NVIDIA driver/GPU") {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("no gpu_env.json", func(t *testing.T) {
		r, _ := deviceCheck(t, match, nil, t.TempDir())
		if r.code != 2 || !strings.Contains(r.stderr, "gpu_env.json: missing") {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("no evidence dir", func(t *testing.T) {
		r, _ := deviceCheck(t, match, nil, "/nonexistent/run")
		if r.code != 2 || !strings.Contains(r.stderr, "device-check: EVIDENCE_DIR=/nonexistent/run: no such directory") {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("nvidia-smi fails", func(t *testing.T) {
		r, _ := deviceCheck(t, "testdata/device-check/no-such.csv", nil, evidenceWith(t, "testdata/device-check/gpu_env.json"))
		if r.code != 2 || !strings.Contains(r.stderr, "nvidia-smi --query-gpu=... failed: cat:") {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("no nvidia-smi", func(t *testing.T) {
		if _, err := lookSbin("nvidia-smi"); err == nil {
			t.Skip("this machine has nvidia-smi")
		}
		script, _ := filepath.Abs(filepath.Join("..", "scripts", "device-check"))
		out := filepath.Join(t.TempDir(), "out")
		r := run(t, t.TempDir(), baseEnv("DEVICE_CHECK_OUT="+out), script)
		if r.code != 2 || !strings.Contains(r.stderr, "device-check: nvidia-smi: not found on PATH") {
			t.Fatalf("got %s", r)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s was made although nothing could be compared", out)
		}
	})
	t.Run("not a gpu bundle", func(t *testing.T) {
		bundle := t.TempDir()
		for _, f := range []string{"run-smoke", "smoke.test"} {
			writeScript(t, filepath.Join(bundle, f), "#!/bin/sh\n")
		}
		if err := os.WriteFile(filepath.Join(bundle, "BUILDINFO"), []byte("smoke.test tags: none\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, _ := deviceCheck(t, match, []string{"GPUSMOKE_DIR=" + bundle})
		if r.code != 2 || !strings.Contains(r.stderr, "GPUSMOKE_DIR="+bundle+": smoke.test is not gpu-tagged") {
			t.Fatalf("got %s", r)
		}
	})
}

// TestDeviceCheckRunsTheBundle runs device-check whole, as `make device-check` does, with the
// gpu-tagged bundle. Without an NVIDIA driver the run fails preflight, as documented, and the
// comparison stops at NVML; on a GPU machine use make device-check itself.
func TestDeviceCheckRunsTheBundle(t *testing.T) {
	if _, err := os.Stat("/proc/driver/nvidia/version"); err == nil {
		t.Skip("this machine has an NVIDIA driver: run make device-check")
	}
	bundle := unpackedBundle(t, "gpu")
	r, out := deviceCheck(t, "testdata/device-check/match.csv", []string{"GPUSMOKE_DIR=" + bundle, "TMPDIR=" + t.TempDir()})
	if r.code != 2 || !strings.Contains(r.stdout, "device-check: suite exited 1") ||
		!strings.Contains(r.stderr, "nvml.available is false: no NVIDIA driver/GPU") {
		t.Fatalf("got %s", r)
	}
	if err := checkEvidence(filepath.Join(out, "evidence")); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceCheckNodeRun: after a node run (GPUS=all), device-check prints each GPU's verdict
// from the node's summary.json, beside the comparison.
func TestDeviceCheckNodeRun(t *testing.T) {
	ev := evidenceWith(t, "testdata/device-check/gpu_env.json")
	s := evidence.Summary{Verdict: evidence.Fail, Node: &evidence.SummaryNode{GPUs: []evidence.SummaryNodeGPU{
		{Index: 0, UUID: "GPU-a", Verdict: evidence.Pass},
		{Index: 1, UUID: "GPU-b", Verdict: evidence.Fail, Reason: "04-train: GPU Xid error [79] during the step"},
	}}}
	b, err := evidence.EncodeJSON(&s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ev, evidence.SummaryFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := deviceCheck(t, "testdata/device-check/match.csv", nil, ev)
	for _, want := range []string{"node run: gpu0 (GPU-a): PASS\n", "node run: gpu1 (GPU-b): FAIL - 04-train: GPU Xid error [79] during the step\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("device-check's output lacks %q:\n%s", want, r.stdout)
		}
	}
}
