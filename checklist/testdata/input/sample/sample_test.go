// Package sample is a throwaway test package whose only use is to make gotestsum write a real
// junit.xml with the shapes the smoke suite produces: properties from t.Attr, a failure, a skip
// that names the section blocking it, and passes. It lives under testdata so that ./... never
// runs it. See ../README.md for the command that recorded ../junit.xml.
package sample

import "testing"

func attrs(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Attr(kv[i], kv[i+1])
	}
}

func Test00Preflight(t *testing.T) {
	attrs(t, "section", "00", "name", "preflight", "title", "Preflight (environment facts, NVML, nvidia-smi)",
		"expected", "NVML sees the GPU; torch sees CUDA; health checks clean",
		"result", "PASS", "duration", "1.2", "log", "logs/00-preflight.log",
		"notes", "GPU 0: NVIDIA GeForce RTX 4090 <24 GiB> | cc 8.9")
	t.Log("nvml: 1 GPU")
}

func Test02Dataset(t *testing.T) {
	attrs(t, "section", "02", "name", "dataset",
		"command", "/opt/venv/bin/python3 ./difftrain/scripts/make_dummy_imagefolder.py --output-dir ./data/smoke_text2image --num-images 4 --image-size 64",
		"exit_code", "0", "duration", "0.8", "result", "PASS", "log", "logs/02-dataset.log",
		"artifacts", "artifacts/data/metadata.jsonl")
}

func Test04Train(t *testing.T) {
	attrs(t, "section", "04", "name", "train",
		"command", "/opt/venv/bin/python3 ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run",
		"exit_code", "1", "duration", "41.0", "result", "FAIL", "log", "logs/04-train.log",
		"reason", "exit status 1: ImportError: Missing optional dependencies. Install with pip install -e \"./difftrain[text2image]\"",
		"warnings", "2", "peak_mem_mib", "1532", "peak_util_pct", "37", "max_temp_c", "51", "max_power_w", "118.4")
	t.Log("command: python ./difftrain/scripts/train_text_to_image.py ...")
	t.Fatal("exit status 1: ImportError: Missing optional dependencies")
}

func Test05Artifacts(t *testing.T) {
	attrs(t, "section", "05", "name", "artifacts", "result", "SKIPPED", "reason", "blocked by 04-train")
	t.Skip("blocked by 04-train")
}

func Test06Resume(t *testing.T) {
	t.Attr("section", "06")
	t.Skip("blocked by 04-train")
}
