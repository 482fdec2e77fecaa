"""Stand-in for datasets (gpusmoke conformance lane): load_dataset("imagefolder", ...) only."""

from __future__ import annotations

import glob
import json
import os

__version__ = "0.0.0+gpusmoke.standin"

_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class Dataset:
    """Rows of {"image": PIL image, <metadata columns>}; a transform gets a batch of one row."""

    def __init__(self, rows, columns, transform=None):
        self._rows, self.column_names, self._transform = rows, columns, transform

    def __len__(self):
        return len(self._rows)

    def with_transform(self, transform):
        return Dataset(self._rows, self.column_names, transform)

    def __getitem__(self, i):
        from PIL import Image

        row = dict(self._rows[i])
        with Image.open(row["image"]) as im:
            row["image"] = im.copy()
        if self._transform is None:
            return row
        batch = self._transform({k: [v] for k, v in row.items()})
        return {k: v[0] for k, v in batch.items()}


def load_dataset(builder, data_files=None, split=None, **kwargs):
    if builder != "imagefolder":
        raise ValueError(f"gpusmoke stand-in datasets: only 'imagefolder' is supported, not {builder!r}")
    files = data_files if isinstance(data_files, dict) else {"train": data_files}
    out = {}
    for name, patterns in files.items():
        paths = []
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            paths += sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        out[name] = _imagefolder(paths)
    return out[split] if split else out


def _imagefolder(paths):
    meta = {}
    for p in paths:
        if os.path.basename(p) == "metadata.jsonl":
            with open(p, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        rec = json.loads(line)
                        meta[os.path.join(os.path.dirname(p), rec["file_name"])] = rec
    rows, columns = [], ["image"]
    for p in paths:
        if p.lower().endswith(_IMAGE_EXTS):
            rec = {k: v for k, v in meta.get(p, {}).items() if k != "file_name"}
            for k in rec:
                if k not in columns:
                    columns.append(k)
            rows.append({"image": p, **rec})
    if not rows:
        raise FileNotFoundError(f"gpusmoke stand-in datasets: no images among {len(paths)} file(s)")
    return Dataset(rows, columns)
