"""Load a config, seed, and write the repro artifacts (env.json, config.resolved.yaml, run_manifest.json)."""

import argparse
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from difftrain import _fixture  # noqa: E402
from difftrain.config import load_config  # noqa: E402
from difftrain.repro import seed_everything, write_repro_artifacts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--output-dir", default=None, help="default: train.output_dir")
    parser.add_argument("--deterministic", action="store_true")
    args = parser.parse_args()
    _fixture.touch_tracked("validate_config")
    _fixture.leak_env()
    _fixture.write_untracked("validate_config")
    _fixture.commit("validate_config")
    _fixture.inject("validate_config")

    cfg, text = load_config(args.config)
    output_dir = args.output_dir or cfg.train.output_dir
    seed_everything(cfg.train.seed, args.deterministic)
    env, resolved, manifest = write_repro_artifacts(cfg, args.config, text, output_dir, args.deterministic)
    print(f"[difftrain] config: {Path(args.config).resolve()}")
    print(f"[difftrain] output_dir: {Path(output_dir).resolve()}")
    for path in (resolved, env, manifest):  # the real script's order
        print(f"[difftrain] wrote: {path}")


if __name__ == "__main__":
    main()
