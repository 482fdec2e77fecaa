"""The ImageFolder dataset: <root>/metadata.jsonl plus RGB PNGs; PNG I/O with the standard library."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

METADATA = "metadata.jsonl"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, width: int, height: int, rgb: bytes) -> None:
    """Writes 8-bit RGB pixels (row-major, no padding) as a PNG."""
    rows = b"".join(b"\x00" + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(path) -> tuple[int, int, bytes]:
    """Reads an 8-bit RGB/RGBA, non-interlaced PNG; returns (width, height, RGB bytes)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit non-interlaced RGB/RGBA PNGs are supported")
    bpp = 3 if color == 2 else 4
    raw, stride, prev, out = zlib.decompress(idat), width * bpp, bytearray(width * bpp), bytearray()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        out += line if bpp == 3 else b"".join(line[i:i + 3] for i in range(0, stride, 4))
        prev = line
    return width, height, bytes(out)


def load_records(data_root) -> list[dict]:
    """The metadata.jsonl rows; fails when the dataset is missing or empty."""
    meta = Path(data_root) / METADATA
    if not meta.is_file():
        raise FileNotFoundError(f"dataset not found: {meta} (create it with scripts/make_dummy_imagefolder.py)")
    records = [json.loads(line) for line in meta.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records:
        raise ValueError(f"dataset is empty: {meta}")
    for r in records:
        if not (Path(data_root) / r["file_name"]).is_file():
            raise FileNotFoundError(f"image listed in {meta} not found: {r['file_name']}")
    return records


def load_rgb(path) -> tuple[int, int, bytes]:
    try:
        from PIL import Image
    except ImportError:
        return read_png(path)
    with Image.open(path) as im:
        im = im.convert("RGB")
        return im.width, im.height, im.tobytes()
