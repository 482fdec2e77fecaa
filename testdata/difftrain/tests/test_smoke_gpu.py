"""GPU smoke lane: the runbook's dataset and training commands in a temporary workspace."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from difftrain import repro

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.cuda
@pytest.mark.text2image
def test_smoke_text2image_writes_the_five_artifacts(tmp_path):
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"):
        pytest.skip("needs the Hugging Face Hub (offline mode is set)")
    if not repro.cuda_available():
        pytest.skip("needs CUDA")
    scripts, out = CHECKOUT / "scripts", tmp_path / "_tmp_run"
    subprocess.run([sys.executable, str(scripts / "make_dummy_imagefolder.py"), "--output-dir",
                    "data/smoke_text2image", "--num-images", "4", "--image-size", "64"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, str(scripts / "train_text_to_image.py"), "--config",
                    str(CHECKOUT / "configs" / "smoke_text2image.yaml"), "--output-dir", str(out)],
                   cwd=tmp_path, check=True)
    for name in ("env.json", "config.resolved.yaml", "run_manifest.json", "checkpoint-1.pt", "checkpoint-2.pt"):
        assert (out / name).is_file(), name
