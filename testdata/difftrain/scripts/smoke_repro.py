"""Repro smoke: write the three repro artifacts and check they agree with each other."""

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from difftrain import _fixture  # noqa: E402
from difftrain.config import load_config, load_yaml  # noqa: E402
from difftrain.repro import seed_everything, write_repro_artifacts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--output-dir", default=None, help="default: train.output_dir")
    args = parser.parse_args()
    _fixture.touch_tracked("smoke_repro")
    _fixture.leak_env()
    _fixture.write_untracked("smoke_repro")
    _fixture.inject("smoke_repro")

    cfg, text = load_config(args.config)
    output_dir = args.output_dir or cfg.train.output_dir
    seed_everything(cfg.train.seed, deterministic=True)
    env_path, resolved_path, manifest_path = write_repro_artifacts(cfg, args.config, text, output_dir, True)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems = []
    if manifest["env"] != json.loads(env_path.read_text(encoding="utf-8")):
        problems.append("run_manifest.json env differs from env.json")
    if manifest["config"]["resolved_file_sha256"] != hashlib.sha256(resolved_path.read_bytes()).hexdigest():
        problems.append("config.resolved.yaml sha256 differs from the manifest")
    if load_yaml(resolved_path.read_text(encoding="utf-8")) != cfg.to_dict():
        problems.append("config.resolved.yaml does not load back to the resolved config")
    for p in problems:
        print(f"[difftrain] smoke_repro FAIL: {p}")
    if not problems:
        print(f"[difftrain] smoke_repro OK: {manifest_path.parent}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
