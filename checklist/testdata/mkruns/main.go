// Command mkruns writes the hand-made evidence directories under checklist/testdata/runs: each
// case's junit.xml in gotestsum's exact shape (failures, then skips, then passes; properties
// sorted), run.json, gpu_env.json, nvidia-smi.txt, logs/ and artifacts/. Run it from the
// repository root after changing a case, then go test ./checklist -update:
//
//	go run ./checklist/testdata/mkruns
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

var root = filepath.Join("checklist", "testdata", "runs")

func write(dir, rel, content string) {
	p := filepath.Join(root, dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		panic(err)
	}
}

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

var py = "/opt/venv/bin/python3"

func cmd(n string) (string, bool) {
	c, ok := cmdTail[n]
	if !ok {
		return "", false
	}
	return py + c, true
}

var cmdTail = map[string]string{
	"01": " -m pip install -e './difftrain[text2image]'",
	"02": " ./difftrain/scripts/make_dummy_imagefolder.py --output-dir ./data/smoke_text2image --num-images 4 --image-size 64",
	"03": " ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic",
	"04": " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run",
	"06": " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --resume-from ./difftrain/_tmp_run/checkpoint-2.pt",
	"07": " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_fp16.yaml --output-dir ./difftrain/_tmp_run_fp16",
	"08": " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_bf16.yaml --output-dir ./difftrain/_tmp_run_bf16",
}

var tests = map[string][3]string{ // test name, name, title
	"00": {"Test00Preflight", "preflight", "Preflight (environment facts, NVML, nvidia-smi)"},
	"01": {"Test01Install", "install", "Install dependencies (text2image extras)"},
	"02": {"Test02Dataset", "dataset", "Create dummy ImageFolder dataset"},
	"03": {"Test03Validate", "validate", "Repro snapshot validation (deterministic)"},
	"04": {"Test04Train", "train", "Smoke training (2 steps)"},
	"05": {"Test05Artifacts", "artifacts", "Verify artifacts"},
	"06": {"Test06Resume", "resume", "Resume from checkpoint-2.pt"},
	"07": {"Test07AMPFP16", "amp-fp16", "AMP fp16 run"},
	"08": {"Test08AMPBF16", "amp-bf16", "AMP bf16 run"},
}

var expected = map[string]string{
	"00": "NVML sees the GPU; torch sees CUDA; health checks clean",
	"01": "pip exits 0",
	"02": "4 PNGs of 64x64 and metadata.jsonl with 4 records, at the config's data.data_root",
	"03": "env.json, config.resolved.yaml and run_manifest.json written",
	"04": "exits 0 with training completed at global_step=2, no NaN loss",
	"05": "env.json, config.resolved.yaml, run_manifest.json, checkpoint-1.pt, checkpoint-2.pt exist, are non-empty and correct",
	"06": "resumes at global_step=2; checkpoints unchanged",
	"07": "trains 2 steps in fp16 on the GPU, checkpoints record fp16 with a scaler",
	"08": "trains 2 steps in bf16 on the GPU, checkpoints record bf16",
}

// sec builds a testcase with the properties the suite records.
func sec(n, status, result string, secs float64, extra ...string) tc {
	t := tests[n]
	attrs := [][2]string{{"section", n}, {"name", t[1]}, {"title", t[2]}, {"expected", expected[n]}}
	if c, ok := cmd(n); ok {
		attrs = append(attrs, [2]string{"command", c})
	}
	if result != "" {
		attrs = append(attrs, [2]string{"result", result})
	}
	if status != "skip" {
		attrs = append(attrs, [2]string{"duration", fmt.Sprintf("%.1f", secs)}, [2]string{"log", "logs/" + n + "-" + t[1] + ".log"})
		if _, ok := cmd(n); ok {
			ec := "0"
			if result == "FAIL" {
				ec = "1"
			}
			if result == "INTERRUPTED" {
				ec = "-1"
			}
			attrs = append(attrs, [2]string{"exit_code", ec})
		}
	}
	var logs []string
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "t.log" {
			logs = append(logs, extra[i+1])
			continue
		}
		attrs = append(attrs, [2]string{extra[i], extra[i+1]})
	}
	return tc{name: t[0], secs: secs, status: status, attrs: attrs, logs: logs}
}

func main() {
	if _, err := os.Stat(root); err != nil {
		panic("run from the repository root: " + err.Error())
	}
	for _, c := range []string{"pass", "fail-blocked", "deviations", "interrupted"} {
		os.RemoveAll(filepath.Join(root, c))
	}
	passCase()
	failCase()
	deviationsCase()
	interruptedCase()
}
