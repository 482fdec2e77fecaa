package checklist

// catalogEntry is one section of the runbook as the checklist shows it when the run did not
// record it (a section absent from junit.xml) or recorded only part of it.
type catalogEntry struct {
	Number   string
	Name     string
	Title    string
	Command  string // the runbook's command; empty for sections that run no command
	Expected string
	Optional bool
}

// catalog is the runbook's nine sections, in runbook order (runbook/runbook.yaml). It is a
// local copy so the renderer can show sections that never ran.
var catalog = []catalogEntry{
	{"00", "preflight", "Preflight (environment facts, NVML, nvidia-smi)", "",
		"NVML sees the GPU; torch sees CUDA; health checks clean", false},
	{"01", "install", "Install dependencies (text2image extras)",
		`python -m pip install -e "./difftrain[text2image]"`,
		"pip exits 0", true},
	{"02", "dataset", "Create dummy ImageFolder dataset",
		"python ./difftrain/scripts/make_dummy_imagefolder.py --output-dir ./data/smoke_text2image --num-images 4 --image-size 64",
		"4 PNGs of 64x64 and metadata.jsonl with 4 records, at the config's data.data_root", false},
	{"03", "validate", "Repro snapshot validation (deterministic)",
		"python ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic",
		"env.json, config.resolved.yaml and run_manifest.json written", true},
	{"04", "train", "Smoke training (2 steps)",
		"python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run",
		"exits 0 with training completed at global_step=2, no NaN loss", false},
	{"05", "artifacts", "Verify artifacts", "",
		"env.json, config.resolved.yaml, run_manifest.json, checkpoint-1.pt, checkpoint-2.pt exist, are non-empty and correct", false},
	{"06", "resume", "Resume from checkpoint-2.pt",
		"python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --resume-from ./difftrain/_tmp_run/checkpoint-2.pt",
		"resumes at global_step=2; checkpoints unchanged", true},
	{"07", "amp-fp16", "AMP fp16 run",
		"python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_fp16.yaml --output-dir ./difftrain/_tmp_run_fp16",
		"trains 2 steps in fp16 on the GPU, checkpoints record fp16 with a scaler", true},
	{"08", "amp-bf16", "AMP bf16 run",
		"python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_bf16.yaml --output-dir ./difftrain/_tmp_run_bf16",
		"trains 2 steps in bf16 on the GPU, checkpoints record bf16", true},
}

// artifactSection is the section that checks difftrain's output files; a template row whose
// command cell only names those files is matched to it.
const artifactSection = "05"

// runbookArtifacts are the files the runbook's step 5 lists.
var runbookArtifacts = []string{"env.json", "config.resolved.yaml", "run_manifest.json", "checkpoint-1.pt", "checkpoint-2.pt"}

func lookupCatalog(number string) (catalogEntry, bool) {
	for _, c := range catalog {
		if c.Number == number {
			return c, true
		}
	}
	return catalogEntry{}, false
}
