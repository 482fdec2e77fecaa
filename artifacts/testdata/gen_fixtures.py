#!/usr/bin/env python3
"""Writes the recorded inputs under artifacts/testdata/input/ (see README.md).

    /usr/bin/python3 artifacts/testdata/gen_fixtures.py --out artifacts/testdata/input

Checkpoints are written by the real torch.save (torch 1.13 from Debian's python3-torch);
the run files (env.json, config.resolved.yaml, run_manifest.json) are written the way
difftrain's validate_config.py writes them, with the workspace path replaced by the
placeholder @WORKSPACE@ (tests substitute a temporary directory). Broken variants are
derived from the good ones: each breaks one thing a check must catch.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import os
import pickle
import platform
import shutil
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import torch
import yaml

WORKSPACE = "@WORKSPACE@"

SOURCE_YAML = """\
# difftrain smoke config (text-to-image MVP); the fields left out take their defaults.
train:
  seed: 123
  precision: fp32
  max_steps: 2
  checkpointing_steps: 1
  log_every: 1
  output_dir: runs/smoke_text2image
  resume_from: ""
data:
  data_root: data/smoke_text2image
  image_size: 64
  batch_size: 1
  num_workers: 0
model:
  pretrained_model_name_or_path: hf-internal-testing/tiny-stable-diffusion-pipe
"""

# difftrain's dataclass defaults (train, data, model, scheduler, loss), in declaration order.
DEFAULTS = {
    "train": {"seed": 42, "precision": "fp32", "max_steps": 1000, "learning_rate": 0.0001,
              "weight_decay": 0.01, "max_grad_norm": 1.0, "checkpointing_steps": 500,
              "log_every": 10, "output_dir": "runs/text2image", "resume_from": ""},
    "data": {"data_root": "data/text2image", "image_size": 512, "batch_size": 1, "num_workers": 0,
             "image_column": "file_name", "caption_column": "text"},
    "model": {"pretrained_model_name_or_path": "hf-internal-testing/tiny-stable-diffusion-pipe",
              "revision": None, "use_ema": False},
    "scheduler": {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
                  "prediction_type": "epsilon"},
    "loss": {"type": "mse", "snr_gamma": None},
}

# GradScaler.state_dict() of an enabled scaler after `step` clean steps on CUDA. Without CUDA
# torch.cuda.amp.GradScaler disables itself and its state_dict() is {}, so the values are written
# out: they are the defaults torch 1.13 uses (init_scale 2**16, growth 2.0, backoff 0.5, 2000).
def scaler_state(step: int) -> dict:
    return {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
            "growth_interval": 2000, "_growth_tracker": step}


def resolve(source_text: str) -> dict:
    raw = yaml.safe_load(source_text) or {}
    out = copy.deepcopy(DEFAULTS)
    for section, values in raw.items():
        out[section].update(values or {})
    return out


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1 << 20)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


# --- run files -----------------------------------------------------------------------------

def env_json(argv: list[str]) -> dict:
    """env.json as difftrain writes it, from this interpreter's real torch (no CUDA here)."""
    cuda = torch.cuda.is_available()
    env = {
        "created_utc": "2025-01-01T00:00:00Z",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "argv": argv,
        "torch_version": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version(),
        "device_count": torch.cuda.device_count() if cuda else 0,
        "devices": [],
    }
    for i in range(env["device_count"]):
        p = torch.cuda.get_device_properties(i)
        env["devices"].append({"index": i, "name": p.name, "total_memory_bytes": int(p.total_memory),
                               "major": p.major, "minor": p.minor,
                               "multi_processor_count": p.multi_processor_count})
    return env


# An RTX 4090 as torch 1.13 reports it (get_device_properties(0)); NVML reports 24564 MiB
# (25757220864 bytes) for the same card, 1.4% more than torch's total_memory.
RTX4090 = {"index": 0, "name": "NVIDIA GeForce RTX 4090", "total_memory_bytes": 25393692672,
           "major": 8, "minor": 9, "multi_processor_count": 128}


def write_run(out: Path) -> dict:
    run = out / "run"
    source_path = f"{WORKSPACE}/difftrain/configs/smoke_text2image.yaml"
    output_dir = f"{WORKSPACE}/difftrain/_tmp_run"
    write(run / "smoke_text2image.yaml", SOURCE_YAML)
    resolved = resolve(SOURCE_YAML)
    resolved_text = dump_yaml(resolved)
    write(run / "config.resolved.yaml", resolved_text)
    argv = ["./difftrain/scripts/validate_config.py", "--config",
            "./difftrain/configs/smoke_text2image.yaml", "--output-dir", "./difftrain/_tmp_run",
            "--deterministic"]
    env = env_json(argv)
    write(run / "env.json", json.dumps(env, indent=2, sort_keys=True) + "\n")
    gpu = dict(env, cuda_available=True, cuda_version="11.8", cudnn_version=8700, device_count=1,
               devices=[RTX4090])
    write(run / "env_gpu.json", json.dumps(gpu, indent=2, sort_keys=True) + "\n")
    paths = {
        "output_dir": output_dir,
        "config_path": source_path,
        "env_json": f"{output_dir}/env.json",
        "config_resolved_yaml": f"{output_dir}/config.resolved.yaml",
        "run_manifest_json": f"{output_dir}/run_manifest.json",
    }
    manifest = {
        "schema_version": 1,
        "created_utc": env["created_utc"],
        "paths": paths,
        "artifacts": {"env_json": "env.json", "config_resolved_yaml": "config.resolved.yaml",
                      "run_manifest_json": "run_manifest.json"},
        "repro": {"seed": resolved["train"]["seed"], "deterministic": True},
        "git": {"available": True, "repo_dir": WORKSPACE, "is_repo": False, "commit": None,
                "branch": None, "dirty": None, "describe": None,
                "error": "fatal: not a git repository (or any of the parent directories): .git"},
        "dependencies": {"python": platform.python_version(), "difftrain": "0.1.0",
                         "torch": torch.__version__, "numpy": None, "pyyaml": yaml.__version__,
                         "pip": None},
        "config": {
            "source": {"path": source_path, "sha256": sha256(SOURCE_YAML.encode("utf-8"))},
            "resolved": resolved,
            "resolved_file_sha256": sha256(resolved_text.encode("utf-8")),
        },
        "env": env,
        "data_fingerprint": {"status": "not_computed", "note": "placeholder"},
    }
    write(run / "run_manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return resolved


# --- checkpoints ---------------------------------------------------------------------------

def train_state(step: int):
    """A tiny 'unet' and its AdamW state after `step` real optimizer steps. Under AMP the
    weights stay fp32 (autocast casts activations), so every precision saves fp32 weights."""
    torch.manual_seed(0)
    unet = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.GroupNorm(1, 2))
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    x = torch.ones(1, 2, 2, 2)
    for _ in range(step):
        loss = unet(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return unet.state_dict(), opt.state_dict()


def payload(step: int, precision: str, resolved: dict, scaler="auto") -> dict:
    unet, opt = train_state(step)
    config = copy.deepcopy(resolved)
    config["train"]["precision"] = precision
    if scaler == "auto":
        scaler = scaler_state(step) if precision == "fp16" else None
    return {"global_step": step, "unet": unet, "optimizer": opt, "precision": precision,
            "scaler": scaler, "config": config}


def save(obj, path: Path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, str(path), **kw)


def rewrite_zip(src: Path, dst: Path, edit) -> None:
    """Copies the zip entry by entry; edit(name, data) returns (name, data) or None to drop."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            got = edit(info.filename, zin.read(info.filename))
            if got is not None:
                zout.writestr(got[0], got[1])


def write_checkpoints(out: Path, resolved: dict) -> None:
    good = out / "checkpoints" / "good"
    for step in (1, 2):
        save(payload(step, "fp32", resolved), good / "fp32" / f"checkpoint-{step}.pt")
    save(payload(2, "fp16", resolved), good / "fp16" / "checkpoint-2.pt")
    save(payload(2, "bf16", resolved), good / "bf16" / "checkpoint-2.pt")
    # Every storage type the reader maps, plus a non-contiguous view and a shared storage.
    dtypes = payload(1, "fp32", resolved)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    dtypes["unet"] = {
        "float64": torch.zeros(2, dtype=torch.float64), "float16": torch.zeros(3, dtype=torch.float16),
        "bfloat16": torch.zeros(3, dtype=torch.bfloat16), "int64": torch.arange(2),
        "int32": torch.zeros(2, dtype=torch.int32), "int16": torch.zeros(2, dtype=torch.int16),
        "int8": torch.zeros(5, dtype=torch.int8), "uint8": torch.zeros(5, dtype=torch.uint8),
        "bool": torch.zeros(5, dtype=torch.bool), "complex64": torch.zeros(2, dtype=torch.complex64),
        "base": base, "transposed": base.t(), "row": base[1],
    }
    save(dtypes, good / "dtypes" / "checkpoint-1.pt")
    # Views whose bytes are not their storage's: an offset and a step, a permutation, a broadcast
    # (stride 0), a 0-dim element; two tensors equal in value over different storages.
    views = payload(1, "fp32", resolved)
    gen = torch.Generator().manual_seed(7)
    cube = torch.randn(2, 3, 4, generator=gen)
    half = torch.randn(4, 5, generator=gen).to(torch.bfloat16)
    views["unet"] = {
        "cube": cube, "strided": cube[:, 1:, 1::2], "permuted": cube.permute(2, 0, 1), "element": cube[1, 2, 3],
        "broadcast": torch.randn(3, 1, generator=gen).expand(3, 4), "empty": cube[:, :0],
        "half": half, "half_columns": half.t()[1:4], "copy": cube.clone(),
    }
    save(views, good / "views" / "checkpoint-1.pt")
    # torch.save into a file object names the top folder "archive".
    buf = io.BytesIO()
    torch.save(payload(1, "fp32", resolved), buf)
    write(good / "archive" / "checkpoint-1.pt", buf.getvalue())

    bad = out / "checkpoints" / "broken"
    ok1 = good / "fp32" / "checkpoint-1.pt"
    data = ok1.read_bytes()
    write(bad / "truncated" / "checkpoint-1.pt", data[: len(data) // 2])
    write(bad / "empty" / "checkpoint-1.pt", b"")
    save([1, 2, 3], bad / "notdict" / "checkpoint-1.pt")
    save(payload(2, "fp32", resolved), bad / "wrongstep" / "checkpoint-1.pt")
    save(payload(1, "bf16", resolved), bad / "wrongprecision" / "checkpoint-1.pt")
    save(payload(1, "fp16", resolved, scaler=None), bad / "noscaler" / "checkpoint-1.pt")
    save(payload(1, "fp32", resolved, scaler=scaler_state(1)), bad / "fp32scaler" / "checkpoint-1.pt")
    mismatch = payload(1, "fp32", resolved)
    mismatch["config"]["train"]["seed"] = 999
    save(mismatch, bad / "configmismatch" / "checkpoint-1.pt")
    steptype = payload(1, "fp32", resolved)
    steptype["global_step"] = "1"
    save(steptype, bad / "steptype" / "checkpoint-1.pt")
    nostep = payload(1, "fp32", resolved)
    del nostep["global_step"]
    save(nostep, bad / "nostep" / "checkpoint-1.pt")
    save(payload(1, "fp32", resolved), bad / "legacy" / "checkpoint-1.pt",
         _use_new_zipfile_serialization=False)
    rewrite_zip(ok1, bad / "missingdata" / "checkpoint-1.pt",
                lambda n, d: None if n == "checkpoint-1/data/0" else (n, d))
    rewrite_zip(ok1, bad / "shortdata" / "checkpoint-1.pt",
                lambda n, d: (n, d[:-4]) if n == "checkpoint-1/data/0" else (n, d))
    rewrite_zip(ok1, bad / "nodatapkl" / "checkpoint-1.pt",
                lambda n, d: None if n.endswith("/data.pkl") else (n, d))
    rewrite_zip(ok1, bad / "twotops" / "checkpoint-1.pt",
                lambda n, d: ("other/version", d) if n.endswith("/version") else (n, d))
    rewrite_zip(ok1, bad / "badpickle" / "checkpoint-1.pt",
                lambda n, d: (n, d[: len(d) // 2]) if n.endswith("/data.pkl") else (n, d))


# --- hostile data.pkl payloads ------------------------------------------------------------

class _Storage:
    def __init__(self, key, cls, numel, kind="storage"):
        self.key, self.cls, self.numel, self.kind = key, cls, numel, kind


class _Tensor:
    """Pickles as torch does: _rebuild_tensor_v2 over a persistent storage id."""

    def __init__(self, storage, size, stride, offset=0):
        self.storage, self.size, self.stride, self.offset = storage, size, stride, offset

    def __reduce__(self):
        import collections
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return (obj.kind, obj.cls, obj.key, "cpu", obj.numel)
        return None


class _Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def tensor_digests(path: Path) -> list:
    """Each tensor of the checkpoint's payload, in order, named by its path from the top (keys and
    indexes joined by "."), with the SHA-256 of its values' bytes in row-major order: what
    artifacts.TensorDigests must find."""
    out = []

    def walk(name, v):
        if torch.is_tensor(v):
            c = v.contiguous()
            if c.dtype == torch.bfloat16:  # numpy has no bfloat16: the same bytes as int16
                c = c.view(torch.int16)
            out.append({"name": name, "dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape),
                        "sha256": hashlib.sha256(c.numpy().tobytes()).hexdigest()})
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(f"{name}.{k}", x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(f"{name}.{i}", x)

    for key, value in torch.load(str(path)).items():
        walk(key, value)
    return out


def write_digests(checkpoints: Path) -> None:
    """checkpoints/digests.json: tensor_digests of every good checkpoint, by its path under checkpoints/."""
    files = []
    for p in sorted((checkpoints / "good").rglob("*.pt")):
        tensors = ",\n".join("  " + json.dumps(d) for d in tensor_digests(p))
        files.append(f"{json.dumps(str(p.relative_to(checkpoints)))}: [\n{tensors}\n]")
    write(checkpoints / "digests.json", "{\n" + ",\n".join(files) + "\n}\n")


def torch_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_pickles(out: Path) -> None:
    """data.pkl payloads a broken or hostile checkpoint could hold; each must fail cleanly."""
    d = out / "pickles"

    def payload_with(config, unet=None):
        return {"global_step": 1, "unet": unet or {}, "optimizer": {}, "precision": "fp32",
                "scaler": None, "config": config}

    cyclic = []
    cyclic.append(cyclic)
    write(d / "cyclic_list.pkl", pickle.dumps(payload_with({"x": cyclic}), protocol=2))
    selfref = {}
    selfref["self"] = selfref
    write(d / "cyclic_dict.pkl", pickle.dumps(payload_with(selfref), protocol=2))
    laughs = ["lol"]
    for _ in range(7):  # 10**7 references to one list, in a few hundred bytes
        laughs = [laughs] * 10
    write(d / "laughs.pkl", pickle.dumps(payload_with({"x": laughs}), protocol=2))
    # The same in unet, which DecodePayload leaves as unpickled and TensorDigests walks.
    write(d / "cyclic_unet.pkl", pickle.dumps(payload_with({}, cyclic), protocol=2))
    write(d / "laughs_unet.pkl", pickle.dumps(payload_with({}, {"x": laughs}), protocol=2))
    write(d / "huge_bytes.pkl", b"\x80\x02B" + struct.pack("<I", 0x7FFFFFFF))
    write(d / "huge_frame.pkl", b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.")
    write(d / "long_int.pkl", b"\x80\x02\x8b" + struct.pack("<i", 2000) + b"\x01" * 2000 + b".")
    write(d / "no_stop.pkl", b"\x80\x02}q\x00")
    write(d / "bad_opcode.pkl", b"\x80\x02\xff.")
    write(d / "odd_dict.pkl", b"\x80\x02(K\x01d.")  # DICT over one item: a key without a value
    float4 = _Storage("0", torch.FloatStorage, 4)
    write(d / "tensor_out_of_bounds.pkl",
          torch_pickle(payload_with({}, {"w": _Tensor(float4, (5,), (1,))})))
    write(d / "storage_conflict.pkl",
          torch_pickle(payload_with({}, {"a": _Tensor(float4, (4,), (1,)),
                                         "b": _Tensor(_Storage("0", torch.HalfStorage, 4), (4,), (1,))})))
    write(d / "bad_persistent_id.pkl",
          torch_pickle(payload_with({}, {"w": _Tensor(_Storage("0", torch.FloatStorage, 4, kind="module"), (4,), (1,))})))
    # A view that repeats one element 2**40 times (stride 0): valid, and 4 TiB to hash.
    write(d / "broadcast_bomb.pkl",
          torch_pickle(payload_with({}, {"w": _Tensor(_Storage("0", torch.FloatStorage, 1), (1 << 40,), (0,))})))
    # 200 views of two elements, each spanning all of a 1 MiB storage: 200 MiB to read.
    mib = _Storage("0", torch.FloatStorage, 1 << 18)
    write(d / "strided_bomb.pkl",
          torch_pickle(payload_with({}, {f"w{i}": _Tensor(mib, (2,), ((1 << 18) - 1,)) for i in range(200)})))
    write(d / "storage_key_path.pkl",
          torch_pickle(payload_with({}, {"w": _Tensor(_Storage("../x", torch.FloatStorage, 4), (4,), (1,))})))
    write(d / "os_system.pkl", pickle.dumps(payload_with(_Call(os.system, "echo pwned")), protocol=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "input"))
    args = ap.parse_args()
    out = Path(args.out)
    for sub in ("run", "checkpoints", "pickles"):
        shutil.rmtree(out / sub, ignore_errors=True)
    warnings.simplefilter("ignore")
    resolved = write_run(out)
    write_checkpoints(out, resolved)
    write_digests(out / "checkpoints")
    write_pickles(out)
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size:8d} {p.relative_to(out)}")


if __name__ == "__main__":
    main()
