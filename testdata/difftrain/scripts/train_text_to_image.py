"""Text-to-image fine-tuning (fixture: a tiny stand-in model, no downloads)."""

import argparse
import logging
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from difftrain import _fixture, training  # noqa: E402
from difftrain.config import load_config  # noqa: E402
from difftrain.repro import seed_everything, write_repro_artifacts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--output-dir", default=None, help="default: train.output_dir")
    parser.add_argument("--resume-from", default=None, help="checkpoint-<step>.pt to resume from")
    args = parser.parse_args()
    _fixture.touch_tracked("train_text_to_image")
    _fixture.leak_env()
    _fixture.write_untracked("train_text_to_image")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(levelname)s - %(message)s")

    cfg, text = load_config(args.config)  # the flags override the config but are not written into it
    output_dir = args.output_dir or cfg.train.output_dir
    seed_everything(cfg.train.seed, deterministic=True)
    write_repro_artifacts(cfg, args.config, text, output_dir, deterministic=True)
    resume_from = args.resume_from or cfg.train.resume_from
    training.train(cfg, output_dir, resume_from)
    _fixture.resave_on_resume(resume_from)


if __name__ == "__main__":
    main()
