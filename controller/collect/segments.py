"""Window bytes in the artifact store: many windows per content-addressed segment.

A segment is the float32 little-endian bytes of several windows back to back; the index row of a
window says (segment digest, byte offset, shape). One artifact write (one fsync) per ingest round
instead of one per window. A window's own digest covers its shape and bytes, so snapshot digests do
not depend on how windows were grouped into segments.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from controller.store.artifacts import ArtifactStore
from specs.errors import StoreError


def window_digest(window: np.ndarray) -> str:
    data = np.ascontiguousarray(window, dtype="<f4")
    h = hashlib.sha256(("f4:" + "x".join(map(str, data.shape)) + ":").encode())
    h.update(data.tobytes())
    return h.hexdigest()


def write_segment(store: ArtifactStore, windows: list[np.ndarray]) -> tuple[str, list[int]]:
    """Store windows as one segment; returns its digest and each window's byte offset."""
    offsets, parts, offset = [], [], 0
    for window in windows:
        data = np.ascontiguousarray(window, dtype="<f4").tobytes()
        offsets.append(offset)
        parts.append(data)
        offset += len(data)
    digest = store.put_bytes(b"".join(parts), {"kind": "sample-segment"})
    return digest, offsets


def load_windows(store: ArtifactStore, records) -> list[np.ndarray]:
    """The windows of index records (anything with blob, offset, shape), in the records' order."""
    by_blob: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_blob[record.blob].append(i)
    out: list[np.ndarray | None] = [None] * len(records)
    for blob, positions in by_blob.items():
        try:
            data = store.read_bytes(blob)
        except StoreError as err:
            raise StoreError(f"sample segment {blob[:12]} is missing from {store.root}: {err}; the samples that "
                             "point at it cannot be read (was the artifact store moved or pruned?)") from err
        for i in positions:
            record = records[i]
            count = int(np.prod(record.shape))
            out[i] = np.frombuffer(data, dtype="<f4", count=count, offset=record.offset).reshape(record.shape)
    return out  # type: ignore[return-value]
