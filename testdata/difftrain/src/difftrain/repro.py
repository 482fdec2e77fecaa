"""Reproducibility artifacts: env.json, config.resolved.yaml and run_manifest.json."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import difftrain

from .config import Config, dump_yaml

ENV_JSON = "env.json"
CONFIG_RESOLVED_YAML = "config.resolved.yaml"
RUN_MANIFEST_JSON = "run_manifest.json"


def import_torch():
    """The torch module, or None. It may be the pretend-CUDA stand-in (no save/nn)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def real_torch():
    torch = import_torch()
    return torch if torch is not None and hasattr(torch, "save") and hasattr(torch, "nn") else None


def cuda_available() -> bool:
    torch = import_torch()
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:
        return False


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    torch = real_torch()
    if torch is not None:
        torch.manual_seed(seed)
        if deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False


def collect_env(created_utc: str) -> dict:
    torch = import_torch()
    env = {
        "created_utc": created_utc,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        # A string, as with the real difftrain (which needs torch); the fixture may run without it.
        "torch_version": getattr(torch, "__version__", None) or "not installed",
        "cuda_available": cuda_available(),
        "cuda_version": None,
        "cudnn_version": None,
        "device_count": 0,
        "devices": [],
    }
    if torch is None:
        return env
    env["cuda_version"] = getattr(getattr(torch, "version", None), "cuda", None)
    try:
        env["cudnn_version"] = torch.backends.cudnn.version()
    except Exception:
        pass
    if env["cuda_available"]:
        env["device_count"] = torch.cuda.device_count()
        for i in range(env["device_count"]):
            p = torch.cuda.get_device_properties(i)
            env["devices"].append(
                {
                    "index": i,
                    "name": p.name,
                    "total_memory_bytes": int(p.total_memory),
                    "major": p.major,
                    "minor": p.minor,
                    "multi_processor_count": p.multi_processor_count,
                }
            )
    return env


def _git(args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def collect_git(cwd: str) -> dict:
    """Git facts of the working directory (the workspace), as the real one: only a .git right there counts."""
    cwd = str(Path(cwd).resolve())
    info = {"available": False, "repo_dir": cwd, "is_repo": False, "commit": None, "branch": None,
            "dirty": None, "describe": None, "error": None}
    if not (Path(cwd) / ".git").exists():
        info["error"] = "no .git directory found"
        return info
    if shutil.which("git") is None:
        info["error"] = "git executable not found"
        return info
    inside = _git(["rev-parse", "--is-inside-work-tree"], cwd)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        info["error"] = (inside.stderr or inside.stdout).strip() or "not a git worktree"
        return info
    info["available"] = info["is_repo"] = True
    for key, args in (("commit", ["rev-parse", "HEAD"]), ("branch", ["rev-parse", "--abbrev-ref", "HEAD"]),
                      ("describe", ["describe", "--always", "--dirty", "--tags"])):
        info[key] = _git(args, cwd).stdout.strip() or None
    info["dirty"] = bool(_git(["status", "--porcelain"], cwd).stdout.strip())
    return info


def _version(dist: str, module: str, prefer_module: bool = False):
    def from_module():
        try:
            return getattr(__import__(module), "__version__", None)
        except ImportError:
            return None

    if prefer_module:
        return from_module()
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return from_module()


def collect_dependencies() -> dict:
    return {
        "python": platform.python_version(),
        "difftrain": difftrain.__version__,
        "torch": _version("torch", "torch", prefer_module=True),
        "numpy": _version("numpy", "numpy"),
        "pyyaml": _version("PyYAML", "yaml"),
        "pip": _version("pip", "pip"),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_repro_artifacts(cfg: Config, config_path: str, config_text: str, output_dir: str,
                          deterministic: bool) -> list[Path]:
    """Writes (overwrites) the three artifacts; returns their absolute paths."""
    from . import _fixture

    out = Path(output_dir).resolve()
    if _fixture.no_repro():
        return [out / ENV_JSON, out / CONFIG_RESOLVED_YAML, out / RUN_MANIFEST_JSON]
    out.mkdir(parents=True, exist_ok=True)
    created = utc_now()
    env = collect_env(created)
    paths = {
        "output_dir": str(out),
        "config_path": str(Path(config_path).resolve()),
        "env_json": str(out / ENV_JSON),
        "config_resolved_yaml": str(out / CONFIG_RESOLVED_YAML),
        "run_manifest_json": str(out / RUN_MANIFEST_JSON),
    }
    leaked = _fixture.leaked_values()
    if leaked:  # FIXTURE_LEAK_ARTIFACTS: as a chatty environment report would record them
        env["environment"] = leaked
    Path(paths["env_json"]).write_text(json.dumps(env, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _fixture.leak_config(cfg)
    # One comment line per line of a value, so that a multi-line one (a PEM key) stays a comment.
    resolved_text = "".join(f"# {k}={line}\n" for k, v in leaked.items() for line in (v.splitlines() or [""])) \
        + dump_yaml(cfg.to_dict())
    Path(paths["config_resolved_yaml"]).write_text(resolved_text, encoding="utf-8")
    manifest = {
        "schema_version": 1,
        "created_utc": created,
        "paths": paths,
        "artifacts": {"env_json": ENV_JSON, "config_resolved_yaml": CONFIG_RESOLVED_YAML,
                      "run_manifest_json": RUN_MANIFEST_JSON},
        "repro": {"seed": cfg.train.seed, "deterministic": bool(deterministic)},
        "git": collect_git(os.getcwd()),
        "dependencies": collect_dependencies(),
        "config": {
            "source": {"path": paths["config_path"], "sha256": _sha256(config_text.encode("utf-8"))},
            "resolved": cfg.to_dict(),
            "resolved_file_sha256": _sha256(resolved_text.encode("utf-8")),
        },
        "env": env,
        "data_fingerprint": {"status": "not_computed", "note": "placeholder"},
    }
    Path(paths["run_manifest_json"]).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                                encoding="utf-8")
    _fixture.huge_env_json(paths["env_json"])
    return [Path(paths["env_json"]), Path(paths["config_resolved_yaml"]), Path(paths["run_manifest_json"])]
