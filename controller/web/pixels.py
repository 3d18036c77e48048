"""A grayscale PNG from a 2-D uint8 array, without an imaging library (dataset sample images)."""
from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def gray_png(pixels: np.ndarray) -> bytes:
    """8-bit grayscale PNG of `pixels` (height x width, uint8)."""
    height, width = pixels.shape
    rows = b"".join(b"\x00" + bytes(row) for row in np.ascontiguousarray(pixels, dtype=np.uint8))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
