"""The fixture behaves as the real difftrain does (the contract's "Facts checked against the real
repository"): each test pins one fact, so the fixture cannot drift from the real scripts again."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
EXTRAS = ("datasets", "diffusers", "torchvision", "transformers")


def _extras(tmp_path: Path, missing: str = "") -> str:
    """A folder of importable (empty) text2image extras, for PYTHONPATH; `missing` is left out."""
    site = tmp_path / "site"
    for name in EXTRAS:
        if name != missing:
            (site / name).mkdir(parents=True, exist_ok=True)
            (site / name / "__init__.py").write_text("", encoding="utf-8")
    return str(site)


def _run(ws: Path, script: str, *args: str, pythonpath: str = "", env: dict | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FIXTURE_")}
    full.update({"PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1"}, **(env or {}))
    p = subprocess.run([sys.executable, f"./difftrain/scripts/{script}.py", *args], cwd=ws, env=full,
                       capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace holding a copy of the checkout as ./difftrain."""
    shutil.copytree(CHECKOUT, tmp_path / "ws" / "difftrain", ignore=shutil.ignore_patterns("__pycache__", "_tmp_run*"))
    return tmp_path / "ws"


CONFIG = "./difftrain/configs/smoke_text2image.yaml"
OUT = "./difftrain/_tmp_run"


def _resolved(ws: Path, out: str = OUT) -> dict:
    from difftrain import config

    return config.load_yaml((ws / out / "config.resolved.yaml").read_text(encoding="utf-8"))


def _checkpoint(ws: Path, name: str, out: str = OUT) -> dict:
    from difftrain import checkpoints

    return checkpoints.load_zip(ws / out / name)


def test_validate_does_not_write_its_flags_into_the_config(ws, tmp_path):
    _run(ws, "validate_config", "--config", CONFIG, "--output-dir", OUT, "--deterministic")
    assert _resolved(ws)["train"]["output_dir"] == "runs/smoke_text2image"
    manifest = json.loads((ws / OUT / "run_manifest.json").read_text(encoding="utf-8"))
    assert manifest["repro"]["deterministic"] is True


def test_train_writes_output_dir_and_resume_from_into_every_artifact(ws, tmp_path):
    site = _extras(tmp_path)
    _run(ws, "make_dummy_imagefolder", "--output-dir", "./data/smoke_text2image", pythonpath=site)
    _run(ws, "train_text_to_image", "--config", CONFIG, "--output-dir", OUT, pythonpath=site)
    assert _resolved(ws)["train"]["output_dir"] == OUT
    manifest = json.loads((ws / OUT / "run_manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["resolved"]["train"]["output_dir"] == OUT
    assert _checkpoint(ws, "checkpoint-2.pt")["config"]["train"]["output_dir"] == OUT

    resume = _run(ws, "train_text_to_image", "--config", CONFIG, "--output-dir", OUT,
                  "--resume-from", OUT + "/checkpoint-2.pt", pythonpath=site)
    assert _resolved(ws)["train"]["resume_from"] == OUT + "/checkpoint-2.pt"
    assert _checkpoint(ws, "checkpoint-2.pt")["config"]["train"]["resume_from"] == ""
    # pathlib drops the leading "./" in the log lines, as the real script's do.
    assert "resuming from checkpoint: difftrain/_tmp_run/checkpoint-2.pt\n" in resume.stderr


def test_log_lines_are_the_real_ones(ws, tmp_path):
    site = _extras(tmp_path)
    _run(ws, "make_dummy_imagefolder", "--output-dir", "./data/smoke_text2image", pythonpath=site)
    p = _run(ws, "train_text_to_image", "--config", CONFIG, "--output-dir", OUT, pythonpath=site)
    messages = [line.split(" - ", 2)[2] for line in p.stderr.splitlines() if line.count(" - ") >= 2]
    assert messages[0] == "training precision: fp32"
    assert "saved checkpoint: difftrain/_tmp_run/checkpoint-1.pt" in messages
    assert messages[-1] == "training completed: global_step=2"
    assert any(m.startswith("step=1 loss=") and len(m.split("=")[-1].split(".")[-1]) == 6 for m in messages)


def test_missing_extras_raise_a_chained_import_error_before_anything_is_written(ws, tmp_path):
    p = _run(ws, "train_text_to_image", "--config", CONFIG, "--output-dir", OUT,
             pythonpath=_extras(tmp_path, missing="datasets"), check=False)
    assert p.returncode == 1
    first = p.stderr.index("ModuleNotFoundError: No module named 'datasets'")
    cause = p.stderr.index("The above exception was the direct cause of the following exception:")
    last = p.stderr.index("ImportError: Missing optional dependencies. Install with `pip install -e .[text2image]`.")
    assert first < cause < last
    assert " - INFO - " not in p.stderr, "logging is set up after the check"
    assert not (ws / OUT).exists(), "nothing is written before the check"


def test_a_precision_fallback_is_fp32_in_the_checkpoint_but_not_in_the_resolved_config(ws, tmp_path):
    site = _extras(tmp_path)
    cfg = tmp_path / "smoke_fp16.yaml"
    cfg.write_text((CHECKOUT / "configs" / "smoke_text2image.yaml").read_text(encoding="utf-8")
                   .replace("precision: fp32", "precision: fp16"), encoding="utf-8")
    _run(ws, "make_dummy_imagefolder", "--output-dir", "./data/smoke_text2image", pythonpath=site)
    p = _run(ws, "train_text_to_image", "--config", str(cfg), "--output-dir", "./difftrain/_tmp_run_fp16",
             pythonpath=site)
    assert "precision=fp16 requested on non-CUDA device; falling back to fp32" in p.stderr
    assert _resolved(ws, "./difftrain/_tmp_run_fp16")["train"]["precision"] == "fp16"
    ck = _checkpoint(ws, "checkpoint-1.pt", "./difftrain/_tmp_run_fp16")
    assert (ck["precision"], ck["config"]["train"]["precision"], ck["scaler"]) == ("fp32", "fp32", None)
