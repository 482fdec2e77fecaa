"""A fake torch that makes the interpreter look like it has one RTX 4090 (put this folder's parent on PYTHONPATH).

It has no tensors: torch.save and torch.nn are absent on purpose, so the difftrain fixture keeps
its standard-library path for the math but honours the pretended CUDA device.
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

_DEVICE = SimpleNamespace(
    name="NVIDIA GeForce RTX 4090",
    total_memory=24 * 1024**3,
    major=8,
    minor=9,
    multi_processor_count=128,
)


def _check(index):
    if int(index) != 0:
        raise RuntimeError(f"CUDA error: invalid device ordinal {index}")
    return _DEVICE


cuda = SimpleNamespace(
    is_available=lambda: True,
    device_count=lambda: 1,
    current_device=lambda: 0,
    get_device_name=lambda index=0: _check(index).name,
    get_device_properties=_check,
    get_device_capability=lambda index=0: (_check(index).major, _check(index).minor),
    is_bf16_supported=lambda *args, **kwargs: os.environ.get("FIXTURE_NO_BF16") != "1",
)
