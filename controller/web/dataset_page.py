"""What the dataset page shows of a snapshot: samples per class and split, and for image datasets one
sample image per class (PNG data URIs). Read once per snapshot digest (a snapshot never changes)."""
from __future__ import annotations

import base64
import threading
from dataclasses import dataclass

import numpy as np

from controller.pipeline.datasets import SPLITS
from controller.pipeline.datasets import Snapshot
from controller.store.artifacts import ArtifactStore
from controller.web.pixels import gray_png
from specs.errors import OrigamiError

MAX_IMAGE_SIDE = 128  # larger inputs are not pictures worth inlining
_lock = threading.Lock()
_cache: dict[str, SnapshotSummary | None] = {}


@dataclass(frozen=True)
class ClassCount:
    name: str
    counts: dict[str, int]   # split -> samples
    total: int
    image: str | None        # data: URI of one sample, image datasets only


@dataclass(frozen=True)
class SnapshotSummary:
    task: str
    input_shape: tuple[int, ...]
    splits: dict[str, int]
    classes: list[ClassCount]  # empty for regression


def _image(x: np.ndarray) -> np.ndarray | None:
    """A sample as 2-D uint8 pixels, when its shape is an image's (H x W, or H x W x 1|3)."""
    if x.ndim == 3 and x.shape[-1] in (1, 3):
        x = x.mean(axis=-1)
    if x.ndim != 2 or min(x.shape) < 4 or max(x.shape) > MAX_IMAGE_SIDE:
        return None
    low, high = float(x.min()), float(x.max())
    return ((x - low) / ((high - low) or 1.0) * 255).astype(np.uint8)


def summarize(snap: Snapshot) -> SnapshotSummary:
    splits = {s: int(len(snap.y(s))) for s in SPLITS if f"y_{s}" in snap.arrays}
    classes = []
    for index, name in enumerate(snap.classes or []):
        counts = {s: int(np.count_nonzero(snap.y(s) == index)) for s in splits}
        image = None
        first = np.flatnonzero(snap.y("train") == index) if "y_train" in snap.arrays else []
        if len(first):
            pixels = _image(snap.x("train")[first[0]])
            if pixels is not None:
                image = "data:image/png;base64," + base64.b64encode(gray_png(pixels)).decode()
        classes.append(ClassCount(str(name), counts, sum(counts.values()), image))
    return SnapshotSummary(snap.task, snap.input_shape, splits, classes)


def snapshot_summary(artifacts: ArtifactStore | None, digest: str | None) -> SnapshotSummary | None:
    """The summary of the snapshot `digest`, or None when it is not in the artifact store."""
    if artifacts is None or not digest:
        return None
    with _lock:
        if digest in _cache:
            return _cache[digest]
    try:
        summary = summarize(Snapshot.decode(artifacts.read_bytes(digest))) if artifacts.exists(digest) else None
    except (OrigamiError, OSError, ValueError, KeyError):
        summary = None
    with _lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[digest] = summary
    return summary
