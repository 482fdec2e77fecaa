"""A fake torch that makes the interpreter look like it has one CUDA GPU (put this folder's parent on PYTHONPATH).

It has no tensors: torch.save and torch.nn are absent on purpose, so the difftrain fixture keeps
its standard-library path for the math but honours the pretended CUDA device.

PRETEND_CUDA_GPU picks the GPU: rtx4090 (the default) or h200, named as gpuenv/gpufake's fake
NVML names it (SMOKE_FAKE_GPU=rtx4090 or h200), or the preflight's torch/NVML cross-check fails.
The H200's memory is exactly what the fake NVML reports (144384 MiB); the RTX 4090's is 24 GiB,
as it always was (NVML: 24564 MiB, within the artifacts check's tolerance).

CUDA_VISIBLE_DEVICES is honoured as CUDA reads it: unset, or a list whose first item is an index
or a UUID (GPU-..., MIG-...): the one pretend device, cuda:0; empty, -1, or any other first
item: no CUDA device (is_available() is False).

FIXTURE_NO_BF16=1 makes cuda.is_bf16_supported() return False.
"""

import os
from types import SimpleNamespace

PRETEND = True
__version__ = "2.4.0+pretend"

version = SimpleNamespace(__version__=__version__, cuda="12.4", hip=None, git_version="pretend")

backends = SimpleNamespace(
    cudnn=SimpleNamespace(version=lambda: 90100, is_available=lambda: True, enabled=True,
                          deterministic=False, benchmark=False),
)

_GPUS = {
    "rtx4090": SimpleNamespace(name="NVIDIA GeForce RTX 4090", total_memory=24 * 1024**3,
                               major=8, minor=9, multi_processor_count=128),
    # gpufake.NewH200: go-nvml's H200_SXM5_141GB, MemoryMB 144384, taken as MiB.
    "h200": SimpleNamespace(name="NVIDIA H200 141GB HBM3e", total_memory=144384 * 1024**2,
                            major=9, minor=0, multi_processor_count=132),
}

_gpu = os.environ.get("PRETEND_CUDA_GPU") or "rtx4090"
if _gpu not in _GPUS:
    raise ValueError(f"PRETEND_CUDA_GPU={_gpu}: unknown GPU ({', '.join(_GPUS)})")
_DEVICE = _GPUS[_gpu]


def _visible():
    """How many pretend devices CUDA_VISIBLE_DEVICES leaves: 1 or 0."""
    v = os.environ.get("CUDA_VISIBLE_DEVICES")
    if v is None:
        return 1
    first = v.split(",")[0].strip()
    return 1 if first.isdigit() or first.startswith(("GPU-", "MIG-")) else 0


_COUNT = _visible()


def _check(index=0):
    if _COUNT == 0:
        raise RuntimeError("No CUDA GPUs are available")
    if int(index) != 0:
        raise RuntimeError(f"CUDA error: invalid device ordinal {index}")
    return _DEVICE


def _current_device():
    _check()
    return 0


cuda = SimpleNamespace(
    is_available=lambda: _COUNT > 0,
    device_count=lambda: _COUNT,
    current_device=_current_device,
    get_device_name=lambda index=0: _check(index).name,
    get_device_properties=_check,
    get_device_capability=lambda index=0: (_check(index).major, _check(index).minor),
    is_bf16_supported=lambda *args, **kwargs: _COUNT > 0 and os.environ.get("FIXTURE_NO_BF16") != "1",
)
