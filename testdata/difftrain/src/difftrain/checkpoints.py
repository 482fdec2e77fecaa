"""Checkpoints in torch.save's zip format, written and read with the standard library.

The archive has one top folder named after the file's stem (data.pkl, data/<key>, version,
byteorder), entries stored uncompressed. data.pkl is pickle protocol 2 whose tensors are
torch._utils._rebuild_tensor_v2 over persistent ids ('storage', torch.FloatStorage, key,
location, numel), so torch.load reads these files and this module reads torch.save's.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import struct
import zipfile
from pathlib import Path


class Tensor:
    """A contiguous float32 tensor kept as a flat list of floats."""

    def __init__(self, values, shape, location="cpu"):
        self.values = [float(v) for v in values]
        self.shape = tuple(int(s) for s in shape)
        self.location = location
        if len(self.values) != math.prod(self.shape):
            raise ValueError(f"{len(self.values)} values do not fill shape {self.shape}")

    def __repr__(self):
        return f"Tensor(shape={self.shape}, location={self.location!r})"

    def __reduce__(self):
        return (_REBUILD_TENSOR_V2, (_Storage(self), 0, self.shape, _strides(self.shape), False,
                                     collections.OrderedDict()))


def _strides(shape):
    strides, acc = [], 1
    for size in reversed(shape):
        strides.append(acc)
        acc *= size
    return tuple(reversed(strides))


class _Storage:
    def __init__(self, tensor):
        self.tensor = tensor


class _Global:
    """A reference pickled as GLOBAL '<module> <name>' without importing the module."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise TypeError(f"{self.module}.{self.name} is a pickle reference only")


_REBUILD_TENSOR_V2 = _Global("torch._utils", "_rebuild_tensor_v2")
_FLOAT_STORAGE = _Global("torch", "FloatStorage")


class _TorchPickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.records = []  # (key, bytes); also keeps the storages alive while pickling

    def _save_global_ref(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    dispatch[_Global] = _save_global_ref

    def persistent_id(self, obj):
        if not isinstance(obj, _Storage):
            return None
        t = obj.tensor
        key = str(len(self.records))
        self.records.append((key, struct.pack(f"<{len(t.values)}f", *t.values), obj))
        return ("storage", _FLOAT_STORAGE, key, t.location, len(t.values))


def _zip_entry(name):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    return info


def save_zip(obj, path) -> None:
    """Writes obj (dicts, lists, numbers, strings, Tensor) as torch.save would."""
    path = Path(path)
    buf = io.BytesIO()
    pickler = _TorchPickler(buf)
    pickler.dump(obj)
    prefix = path.stem
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_zip_entry(f"{prefix}/data.pkl"), buf.getvalue())
        zf.writestr(_zip_entry(f"{prefix}/byteorder"), b"little")
        for key, data, _ in pickler.records:
            zf.writestr(_zip_entry(f"{prefix}/data/{key}"), data)
        zf.writestr(_zip_entry(f"{prefix}/version"), b"3\n")


_STORAGE_FORMATS = {"FloatStorage": "f", "DoubleStorage": "d", "HalfStorage": "e", "LongStorage": "q",
                    "IntStorage": "i", "ShortStorage": "h", "CharStorage": "b", "ByteStorage": "B",
                    "BoolStorage": "?"}


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *metadata):
    values, location = storage
    if tuple(stride) != _strides(size) and math.prod(size) > 1:
        raise ValueError(f"non-contiguous tensor (size {size}, stride {stride}) is not supported")
    return Tensor(values[offset:offset + math.prod(size)], size, location)


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, file, zf, prefix):
        super().__init__(file)
        self.zf, self.prefix = zf, prefix

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_FORMATS:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"checkpoint references unsupported global {module}.{name}")

    def persistent_load(self, pid):
        typename, storage_type, key, location, numel = pid[:5]
        if typename != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        fmt = _STORAGE_FORMATS[storage_type]
        raw = self.zf.read(f"{self.prefix}/data/{key}")
        return list(struct.unpack(f"<{numel}{fmt}", raw[: numel * struct.calcsize(fmt)])), location


def load_zip(path):
    """Reads a torch.save zip checkpoint; tensors come back as Tensor."""
    with zipfile.ZipFile(path) as zf:
        pkl = next((n for n in zf.namelist() if n.endswith("/data.pkl")), None)
        if pkl is None:
            raise ValueError(f"{path}: no data.pkl, not a torch zip checkpoint")
        prefix = pkl[: -len("/data.pkl")]
        return _TorchUnpickler(io.BytesIO(zf.read(pkl)), zf, prefix).load()
