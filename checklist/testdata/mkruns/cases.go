package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

const env4090 = `{
  "schema_version": 1,
  "collected_utc": "2026-03-02T09:14:03Z",
  "nvml": {
    "available": true,
    "driver_version": "550.54.15",
    "cuda_driver_version": "12.4",
    "nvml_version": "12.550.54.15",
    "gpus": [
      {
        "index": 0,
        "name": "NVIDIA GeForce RTX 4090",
        "uuid": "GPU-5c1b7f0e-2d4a-4c9e-9a61-3f1d2b7c8e90",
        "pci_bus_id": "00000000:01:00.0",
        "memory_total_bytes": 25757220864,
        "compute_capability": "8.9",
        "persistence_mode": "enabled",
        "ecc_mode": "n/a",
        "mig_mode": "n/a",
        "power_limit_watts": 450,
        "max_sm_clock_mhz": 3120,
        "max_mem_clock_mhz": 10501,
        "pcie_gen": 4,
        "pcie_width": 16
      }
    ]
  },
  "host": {
    "hostname": "gpu-4090-a",
    "os": "Ubuntu 22.04.4 LTS",
    "kernel": "5.15.0-101-generic",
    "arch": "amd64",
    "cpu_model": "AMD EPYC 7B13",
    "cpu_cores": 16,
    "memory_bytes": 67430219776,
    "sys_vendor": "QEMU",
    "product_name": "Standard PC (Q35 + ICH9, 2009)"
  },
  "python": {
    "interpreter": "/opt/venv/bin/python3",
    "executable": "/opt/venv/bin/python3",
    "version": "3.11.9",
    "torch": {
      "version": "2.3.1+cu121",
      "cuda": "12.1",
      "cudnn": "8902",
      "cuda_available": true,
      "devices": ["NVIDIA GeForce RTX 4090"],
      "bf16_supported": true
    },
    "packages": {
      "Pillow": "10.3.0",
      "accelerate": "0.31.0",
      "datasets": "2.20.0",
      "diffusers": "0.29.2",
      "numpy": "1.26.4",
      "torchvision": "0.18.1+cu121",
      "transformers": "4.42.3"
    }
  },
  "health": [],
  "notes": []
}
`

const envH100 = `{
  "schema_version": 1,
  "collected_utc": "2026-03-02T10:02:14Z",
  "nvml": {
    "available": true,
    "driver_version": "535.161.08",
    "cuda_driver_version": "12.2",
    "nvml_version": "12.535.161.08",
    "gpus": [
      {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-0a9e3c51-7b2d-4f80-8c14-6d2e9f1a3b57",
        "pci_bus_id": "00000000:53:00.0",
        "memory_total_bytes": 85520809984,
        "compute_capability": "9.0",
        "persistence_mode": "disabled",
        "ecc_mode": "enabled",
        "mig_mode": "disabled",
        "power_limit_watts": 700,
        "max_sm_clock_mhz": 1980,
        "max_mem_clock_mhz": 2619,
        "pcie_gen": 5,
        "pcie_width": 16
      }
    ]
  },
  "host": {
    "hostname": "ip-10-0-3-17",
    "os": "Ubuntu 22.04.4 LTS",
    "kernel": "6.5.0-1017-aws",
    "arch": "amd64",
    "cpu_model": "Intel(R) Xeon(R) Platinum 8488C",
    "cpu_cores": 24,
    "memory_bytes": 249108103168,
    "memory_limit_bytes": 68719476736,
    "sys_vendor": "Amazon EC2",
    "product_name": "p5.4xlarge"
  },
  "python": {
    "interpreter": "/opt/venv/bin/python3",
    "executable": "/opt/venv/bin/python3",
    "version": "3.10.12",
    "torch": {
      "version": "2.4.0+cu121",
      "cuda": "12.1",
      "cudnn": "90100",
      "cuda_available": true,
      "devices": ["NVIDIA H100 80GB HBM3"],
      "bf16_supported": true
    },
    "packages": {
      "Pillow": "10.4.0",
      "accelerate": "0.33.0",
      "datasets": "2.21.0",
      "diffusers": "0.30.0",
      "numpy": "1.26.4",
      "torchvision": "0.19.0+cu121",
      "transformers": "4.44.0"
    }
  },
  "health": [
    {"severity": "note", "gpu": 0, "message": "persistence mode is disabled; the first CUDA call may be slow"}
  ],
  "notes": []
}
`

const smi4090 = `Mon Mar  2 09:14:03 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|
|   0  NVIDIA GeForce RTX 4090        On  |   00000000:01:00.0 Off |                  Off |
|  0%   34C    P8             21W /  450W |       2MiB /  24564MiB |      0%      Default |
|                                         |                        |                  N/A |
+-----------------------------------------+------------------------+----------------------+

+-----------------------------------------------------------------------------------------+
| Processes:                                                                              |
|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |
|        ID   ID                                                               Usage      |
|=========================================================================================|
|  No running processes found                                                             |
+-----------------------------------------------------------------------------------------+
`

const smiH100 = `Mon Mar  2 10:02:14 2026
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.161.08             Driver Version: 535.161.08   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |         Memory-Usage | GPU-Util  Compute M. |
|                                         |                      |               MIG M. |
|=========================================+======================+======================|
|   0  NVIDIA H100 80GB HBM3          Off | 00000000:53:00.0 Off |                    0 |
| N/A   31C    P0              69W / 700W |      4MiB / 81559MiB |      0%      Default |
|                                         |                      |             Disabled |
+-----------------------------------------+----------------------+----------------------+
`

const envJSON = `{
  "created_utc": "2026-03-02T09:15:12Z",
  "cuda_available": true,
  "cuda_version": "12.1",
  "device_count": 1
}
`
const configYAML = "train:\n  seed: 123\n  precision: fp32\n  max_steps: 2\n"
const manifest = `{"schema_version": 1, "artifacts": ["env.json", "config.resolved.yaml", "run_manifest.json"]}
`

func guardrails(extra string) string {
	g := `[
    {"rule": "only commands from the approved plan ran", "ok": true},
    {"rule": "no tracked file in the checkout changed", "ok": true, "detail": "git status --porcelain empty before and after"},
    {"rule": "temporary configs only under ./difftrain/_tmp_run/", "ok": true},
    {"rule": "stop at the first failure, no retries", "ok": true}` + extra + `
  ]`
	return g
}

func passCase() {
	d := "pass"
	out := "/workspace/runs/smoke-20260302T091400Z"
	write(d, "run.json", `{
  "started_utc": "2026-03-02T09:14:00Z",
  "finished_utc": "2026-03-02T09:21:37Z",
  "gpu_mode": true,
  "fixture": false,
  "difftrain_dir": "/workspace/difftrain",
  "workspace": "/workspace",
  "python": "/opt/venv/bin/python3",
  "out": "`+out+`",
  "plan": {
    "name": "difftrain MVP smoke (runbook baseline)",
    "path": "(embedded runbook)",
    "sha256": "6f1c0a8e4b2d9f7e3a5c1b0d8e6f4a2c9b7d5e3f1a0c8e6b4d2f0a9c7e5b3d1f",
    "deviations": []
  },
  "git": {"is_repo": true, "commit": "9f2c1e4b7a0d5e6f8a9b0c1d2e3f4a5b6c7d8e9f", "branch": "main", "clean": true},
  "guardrails": `+guardrails("")+`,
  "temp_configs": ["/workspace/difftrain/_tmp_run/smoke_fp16.yaml", "/workspace/difftrain/_tmp_run/smoke_bf16.yaml"],
  "untracked": []
}
`)
	write(d, "gpu_env.json", env4090)
	write(d, "nvidia-smi.txt", smi4090)
	write(d, "repro.sh", "#!/bin/sh\nset -e\ncd /workspace\n")
	cases := []tc{
		sec("00", "pass", "PASS", 2.1, "notes", "GPU 0: NVIDIA GeForce RTX 4090, 24564 MiB, cc 8.9; torch sees it"),
		sec("01", "pass", "PASS", 48.3),
		sec("02", "pass", "PASS", 1.4, "artifacts", "artifacts/data/metadata.jsonl"),
		sec("03", "pass", "PASS", 3.0),
		sec("04", "pass", "PASS", 37.9, "warnings", "1", "notes", "loss=0.183412 at step 2",
			"peak_mem_mib", "3418", "peak_util_pct", "97", "max_temp_c", "58", "max_power_w", "312.6"),
		sec("05", "pass", "PASS", 0.3, "artifacts", "artifacts/_tmp_run/env.json; artifacts/_tmp_run/config.resolved.yaml; artifacts/_tmp_run/run_manifest.json; artifacts/_tmp_run/checkpoint-1.pt; artifacts/_tmp_run/checkpoint-2.pt"),
		sec("06", "pass", "PASS", 21.6, "notes", "resumed at global_step=2; checkpoints unchanged",
			"peak_mem_mib", "2210", "peak_util_pct", "41", "max_temp_c", "52", "max_power_w", "180.2"),
		sec("07", "pass", "PASS", 30.2, "notes", "checkpoints record fp16 with a scaler",
			"peak_mem_mib", "2874", "peak_util_pct", "95", "max_temp_c", "59", "max_power_w", "305.0"),
		sec("08", "pass", "PASS", 29.7, "notes", "checkpoints record bf16",
			"peak_mem_mib", "2790", "peak_util_pct", "96", "max_temp_c", "60", "max_power_w", "301.4"),
	}
	writeJUnit(filepath.Join(root, d, "junit.xml"), "2026-03-02T09:14:01Z", cases)
	for _, c := range cases {
		var name string
		for _, a := range c.attrs {
			if a[0] == "name" {
				name = a[1]
			}
		}
		write(d, "logs/"+c.attrs[0][1]+"-"+name+".log", "$ "+func() string { s, _ := cmd(c.attrs[0][1]); return s }()+"\n[exit 0]\n")
	}
	write(d, "artifacts/data/metadata.jsonl", `{"file_name": "00000.png", "text": "dummy caption 0"}`+"\n")
	write(d, "artifacts/_tmp_run/env.json", envJSON)
	write(d, "artifacts/_tmp_run/config.resolved.yaml", configYAML)
	write(d, "artifacts/_tmp_run/run_manifest.json", manifest)
	write(d, "artifacts/_tmp_run/checkpoint-1.pt.sha256ref", `{"sha256": "`+sum("ckpt1")+`", "size": 412345678, "path": "/workspace/difftrain/_tmp_run/checkpoint-1.pt"}`+"\n")
	write(d, "artifacts/_tmp_run/checkpoint-2.pt.sha256ref", `{"sha256": "`+sum("ckpt2")+`", "size": 412345678, "path": "/workspace/difftrain/_tmp_run/checkpoint-2.pt"}`+"\n")
}

func failCase() {
	d := "fail-blocked"
	out := "/home/ubuntu/smoke-out"
	write(d, "run.json", `{
  "started_utc": "2026-03-02T10:02:11Z",
  "finished_utc": "2026-03-02T10:05:40Z",
  "gpu_mode": true,
  "fixture": false,
  "difftrain_dir": "/home/ubuntu/work/difftrain",
  "workspace": "/home/ubuntu/work",
  "python": "/opt/venv/bin/python3",
  "out": "`+out+`",
  "plan": {
    "name": "difftrain MVP smoke (runbook baseline)",
    "path": "(embedded runbook)",
    "sha256": "6f1c0a8e4b2d9f7e3a5c1b0d8e6f4a2c9b7d5e3f1a0c8e6b4d2f0a9c7e5b3d1f",
    "deviations": []
  },
  "git": {"is_repo": true, "commit": "9f2c1e4b7a0d5e6f8a9b0c1d2e3f4a5b6c7d8e9f", "branch": "main", "clean": true},
  "guardrails": `+guardrails("")+`,
  "temp_configs": [],
  "untracked": []
}
`)
	write(d, "gpu_env.json", envH100)
	write(d, "nvidia-smi.txt", smiH100)
	write(d, "repro.sh", "#!/bin/sh\nset -e\ncd /home/ubuntu/work\n")
	reason := "exit status 1: OSError: We couldn't connect to 'https://huggingface.co' to load this file"
	cases := []tc{
		sec("00", "pass", "PASS", 1.8),
		sec("01", "pass", "PASS", 61.0),
		sec("02", "pass", "PASS", 1.2),
		sec("03", "pass", "PASS", 2.7),
		sec("04", "fail", "FAIL", 12.4, "reason", reason, "warnings", "2",
			"peak_mem_mib", "1204", "peak_util_pct", "3", "max_temp_c", "33", "max_power_w", "118.4",
			"t.log", "smoke_test.go:212: "+reason),
		sec("05", "skip", "SKIPPED", 0, "reason", "blocked by 04-train", "t.log", "smoke_test.go:88: blocked by 04-train"),
		sec("06", "skip", "SKIPPED", 0, "reason", "blocked by 04-train", "t.log", "smoke_test.go:88: blocked by 04-train"),
		sec("07", "skip", "SKIPPED", 0, "reason", "blocked by 04-train", "t.log", "smoke_test.go:88: blocked by 04-train"),
		// 08 records no reason: the renderer takes it from the skip message.
		{name: "Test08AMPBF16", status: "skip", attrs: [][2]string{{"section", "08"}, {"name", "amp-bf16"}}, logs: []string{"smoke_test.go:88: blocked by 04-train"}},
	}
	writeJUnit(filepath.Join(root, d, "junit.xml"), "2026-03-02T10:02:12Z", cases)
	for _, n := range []string{"00-preflight", "01-install", "02-dataset", "03-validate"} {
		write(d, "logs/"+n+".log", "[exit 0]\n")
	}
	var log strings.Builder
	log.WriteString("$ " + func() string { s, _ := cmd("04"); return s }() + "\n")
	for i := 1; i <= 24; i++ {
		fmt.Fprintf(&log, "2026-03-02 10:03:%02d,120 - INFO - loading component %d of 24\n", i+10, i)
	}
	log.WriteString("2026-03-02 10:03:35,004 - WARNING - HF_HUB_OFFLINE is not set; trying the network\n")
	log.WriteString("2026-03-02 10:03:35,118 - WARNING - retrying download (1/1)\n")
	log.WriteString("Traceback (most recent call last):\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&log, "  File \"/usr/lib/python3/dist-packages/huggingface_hub/file_download.py\", line %d, in hf_hub_download\n", 1200+i)
	}
	log.WriteString("OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the cached files and it looks like hf-internal-testing/tiny-stable-diffusion-pipe is not the path to a directory containing a file named model_index.json.\n")
	log.WriteString("[exit 1]\n")
	write(d, "logs/04-train.log", log.String())
	write(d, "artifacts/_tmp_run/env.json", envJSON)
	write(d, "artifacts/_tmp_run/config.resolved.yaml", configYAML)
	write(d, "artifacts/_tmp_run/run_manifest.json", manifest)
}

func deviationsCase() {
	d := "deviations"
	py = "python3"
	defer func() { py = "/opt/venv/bin/python3" }()
	out := "/src/gpusmoke/runs/fixture"
	write(d, "run.json", `{
  "started_utc": "2026-03-01T17:40:02Z",
  "finished_utc": "2026-03-01T17:40:31Z",
  "gpu_mode": false,
  "fixture": true,
  "difftrain_dir": "/src/gpusmoke/testdata/difftrain",
  "workspace": "/tmp/gpusmoke-ws-123",
  "python": "python3",
  "out": "`+out+`",
  "plan": {
    "name": "difftrain MVP smoke (bundled fixture, offline)",
    "path": "testdata/fixture-plan.yaml",
    "sha256": "b0d3c5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3",
    "deviations": [
      {
        "section": "01",
        "name": "install",
        "runbook": "python -m pip install -e \"./difftrain[text2image]\"",
        "command": "python3 -c 'import sys; sys.path.insert(0, '\"'\"'difftrain/src'\"'\"'); import difftrain'",
        "reason": "The fixture runs offline (no PyPI in CI or on a laptop) and needs no extras: the install step only proves that the stand-in package imports from its src tree."
      }
    ]
  },
  "git": {"is_repo": false, "clean": false},
  "guardrails": `+guardrails(`,
    {"rule": "no files written outside the plan's declared paths", "ok": false, "detail": "untracked: difftrain/scripts/__pycache__/make_dummy_imagefolder.cpython-311.pyc"}`)+`,
  "temp_configs": [],
  "untracked": ["difftrain/scripts/__pycache__/make_dummy_imagefolder.cpython-311.pyc"]
}
`)
	write(d, "gpu_env.json", `{
  "schema_version": 1,
  "collected_utc": "2026-03-01T17:40:02Z",
  "nvml": {"available": false, "error": "no NVIDIA driver/GPU: libnvidia-ml.so.1: cannot open shared object file", "gpus": []},
  "host": {"hostname": "laptop", "os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0-18-amd64", "arch": "amd64", "cpu_model": "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "cpu_cores": 8, "memory_bytes": 16467628032},
  "python": {
    "interpreter": "python3",
    "executable": "/usr/bin/python3",
    "version": "3.11.2",
    "torch": {"version": "not installed", "cuda_available": false, "bf16_supported": false},
    "packages": {"Pillow": "9.4.0", "accelerate": "not installed", "datasets": "not installed", "diffusers": "not installed", "numpy": "1.24.2", "torchvision": "not installed", "transformers": "not installed"}
  },
  "health": [{"severity": "note", "gpu": -1, "message": "no GPU: the fixture runs on the CPU"}],
  "notes": ["torch is not installed: the fixture's stand-in needs none"]
}
`)
	install := "python3 -c 'import sys; sys.path.insert(0, '\"'\"'difftrain/src'\"'\"'); import difftrain'"
	c01 := sec("01", "pass", "PASS", 0.2, "deviation", "The fixture runs offline (no PyPI in CI or on a laptop) and needs no extras: the install step only proves that the stand-in package imports from its src tree.")
	for i, a := range c01.attrs {
		if a[0] == "command" {
			c01.attrs[i][1] = install
		}
	}
	cases := []tc{
		sec("00", "pass", "PASS", 0.4, "notes", "NVML unavailable; CPU-only fixture run"),
		c01,
		sec("02", "pass", "PASS", 0.3),
		sec("03", "pass", "PASS", 0.5),
		// Hostile values: a pipe, a line break, HTML and backticks must stay inside their cells.
		sec("04", "pass", "PASS", 1.1, "warnings", "1",
			"notes", "precision=fp16 requested on non-CUDA device | falling back to <fp32>\nsee `train.precision` & the log"),
		sec("05", "pass", "PASS", 0.1, "artifacts", "artifacts/_tmp_run/env.json; artifacts/_tmp_run/checkpoint-2.pt"),
		sec("06", "pass", "PASS", 0.9),
		sec("07", "skip", "SKIPPED", 0, "reason", "no CUDA device: `torch.cuda.is_available()` is False", "t.log", "smoke_test.go:301: no CUDA device"),
		sec("08", "skip", "NA", 0, "reason", "bf16 needs a CUDA device with bf16 support", "t.log", "smoke_test.go:301: bf16 needs a CUDA device"),
	}
	writeJUnit(filepath.Join(root, d, "junit.xml"), "2026-03-01T17:40:03Z", cases)
	for _, n := range []string{"00-preflight", "01-install", "02-dataset", "03-validate", "04-train", "05-artifacts", "06-resume"} {
		write(d, "logs/"+n+".log", "[exit 0]\n")
	}
	write(d, "artifacts/_tmp_run/env.json", envJSON)
	write(d, "artifacts/_tmp_run/checkpoint-2.pt", "PK\x03\x04 stand-in checkpoint\n")
}

func interruptedCase() {
	d := "interrupted"
	py = "python"
	defer func() { py = "/opt/venv/bin/python3" }()
	write(d, "run.json", `{
  "started_utc": "2026-03-02T11:30:00Z",
  "gpu_mode": true,
  "fixture": false,
  "difftrain_dir": "/nonexistent/difftrain",
  "workspace": "/nonexistent",
  "python": "python",
  "out": "/nonexistent/out",
  "plan": {"name": "difftrain MVP smoke (runbook baseline)", "path": "(embedded runbook)", "sha256": "6f1c0a8e4b2d9f7e3a5c1b0d8e6f4a2c9b7d5e3f1a0c8e6b4d2f0a9c7e5b3d1f", "deviations": []},
  "git": {"is_repo": false, "clean": false, "error": "git: executable file not found in $PATH"},
  "interrupted": "SIGINT",
  "guardrails": [],
  "temp_configs": [],
  "untracked": []
}
`)
	cases := []tc{
		sec("00", "pass", "PASS", 1.0),
		sec("01", "pass", "PASS", 40.0),
		sec("02", "pass", "PASS", 1.0),
		sec("03", "pass", "PASS", 2.0),
		sec("04", "fail", "INTERRUPTED", 9.5, "reason", "interrupted by SIGINT after 9.5 s", "t.log", "smoke_test.go:212: interrupted by SIGINT"),
	}
	writeJUnit(filepath.Join(root, d, "junit.xml"), "2026-03-02T11:30:01Z", cases)
	write(d, "logs/04-train.log", "$ "+func() string { s, _ := cmd("04"); return s }()+"\n2026-03-02 11:30:50,001 - INFO - training precision: fp32\r  0%|          | 0/2 [00:00<?, ?it/s]\r 50%|#####     | 1/2 [00:03<00:03, 3.1s/it]\n[killed by SIGINT]\n")
}
