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


def require_text2image_deps() -> None:
    """As the real script: the extras are checked first, before logging or any file is written."""
    try:
        import datasets  # noqa: F401
        import diffusers  # noqa: F401
        import torchvision  # noqa: F401
        import transformers  # noqa: F401
    except Exception as exc:
        raise ImportError("Missing optional dependencies. Install with `pip install -e .[text2image]`.") from exc


def main() -> None:
    require_text2image_deps()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--output-dir", default=None, help="default: train.output_dir")
    parser.add_argument("--resume-from", default=None, help="checkpoint-<step>.pt to resume from")
    args = parser.parse_args()
    _fixture.touch_tracked("train_text_to_image")
    _fixture.leak_env()
    _fixture.leak_forms()
    _fixture.write_untracked("train_text_to_image")
    _fixture.commit("train_text_to_image")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(levelname)s - %(message)s")

    cfg, text = load_config(args.config)
    # As the real script: the flags are written into the config before anything is saved, so
    # config.resolved.yaml, the manifest and every checkpoint's config carry them.
    if args.output_dir is not None:
        cfg.train.output_dir = args.output_dir
    if args.resume_from is not None:
        cfg.train.resume_from = args.resume_from
    output_dir = Path(cfg.train.output_dir)
    seed_everything(cfg.train.seed, deterministic=True)
    write_repro_artifacts(cfg, args.config, text, str(output_dir), deterministic=True)
    training.train(cfg, output_dir)
    _fixture.resave_on_resume(cfg.train.resume_from)


if __name__ == "__main__":
    main()
