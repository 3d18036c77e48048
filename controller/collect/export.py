"""Export collected samples to files a Dataset `files` source (or anyone) can read back.

NPZ: `x` (n, *window shape) float32, `y` labels (strings; "" when unlabelled), and per-window
`id`, `device`, `ts`, `session`. CSV: one row per window, its values flattened into columns
`v0..vK`, then `label`: what the pipeline's CSV reader expects (features, then the target).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from controller.collect.index import SampleRecord
from specs.errors import UsageError


def _stack(records: list[SampleRecord], windows: list[np.ndarray]) -> np.ndarray:
    shapes = sorted({w.shape for w in windows})
    if len(shapes) > 1:
        raise UsageError(f"the selected samples have different window shapes {shapes}; select one sensor "
                         "(--sensor) or one window size")
    return np.stack(windows).astype(np.float32) if windows else np.zeros((0,), np.float32)


def export_npz(records: list[SampleRecord], windows: list[np.ndarray], path: Path) -> int:
    x = _stack(records, windows)
    np.savez_compressed(path, x=x, y=np.array([r.label or "" for r in records], dtype=str),
                        id=np.array([r.id for r in records], dtype=np.int64),
                        device=np.array([r.device_id for r in records], dtype=str),
                        ts=np.array([r.ts for r in records], dtype=np.float64),
                        session=np.array([r.session or "" for r in records], dtype=str))
    return len(records)


def export_csv(records: list[SampleRecord], windows: list[np.ndarray], path: Path) -> int:
    x = _stack(records, windows)
    flat = x.reshape(len(records), -1) if len(records) else x
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"v{i}" for i in range(flat.shape[1] if len(records) else 0)] + ["label"])
        for record, row in zip(records, flat):
            writer.writerow([f"{v:.7g}" for v in row] + [record.label or ""])
    return len(records)
