"""As the real tests/test_text2image_train_gpu_smoke.py: the GPU lane's one test. It loads
configs/smoke_text2image.yaml, points it at tmp_path, writes the repro artifacts and trains in its
own process, then asserts the five artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from difftrain import repro, training
from difftrain.config import load_config

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.cuda, pytest.mark.text2image]


def require_text2image_deps() -> None:
    """Skip test if text2image optional dependencies are missing."""
    pytest.importorskip("datasets")
    pytest.importorskip("diffusers")
    pytest.importorskip("torchvision")
    pytest.importorskip("transformers")


def _offline_mode_enabled() -> bool:
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        value = os.environ.get(key, "")
        if value.lower() in ("1", "true", "yes", "on"):
            return True
    return False


def test_text2image_train_gpu_smoke(tmp_path: Path) -> None:
    require_text2image_deps()
    if not repro.cuda_available():
        pytest.skip("CUDA is required for this smoke test.")
    if _offline_mode_enabled():
        pytest.skip("Offline mode enabled; cannot download model weights.")

    repo_root = Path(__file__).resolve().parents[1]
    config_path = repo_root / "configs" / "smoke_text2image.yaml"
    cfg, text = load_config(config_path)

    cfg.train.output_dir = str(tmp_path / "run")
    cfg.data.data_root = str(tmp_path / "data")
    cfg.data.batch_size = 1
    cfg.data.num_workers = 0
    cfg.train.max_steps = min(int(cfg.train.max_steps), 2)
    cfg.train.checkpointing_steps = 1
    cfg.train.log_every = 1

    subprocess.run([sys.executable, str(repo_root / "scripts" / "make_dummy_imagefolder.py"), "--output-dir",
                    cfg.data.data_root, "--num-images", "4", "--image-size", str(cfg.data.image_size),
                    "--seed", str(cfg.train.seed)], check=True)

    repro.seed_everything(cfg.train.seed, deterministic=True)
    output_dir = Path(cfg.train.output_dir)
    repro.write_repro_artifacts(cfg, str(config_path), text, str(output_dir), deterministic=True)
    state = training.train(cfg, output_dir)

    assert state >= cfg.train.max_steps
    assert (output_dir / "env.json").exists()
    assert (output_dir / "config.resolved.yaml").exists()
    assert (output_dir / "run_manifest.json").exists()
    assert (output_dir / "checkpoint-1.pt").exists()
    if cfg.train.max_steps >= 2:
        assert (output_dir / "checkpoint-2.pt").exists()
