"""Collected samples as the API and the dataset page show them: which samples a dataset's collected
sources select, pages of them, sessions, and a sparkline of each window.

The sample index (controller/collect/index.py) does the selecting and counting; this module only
narrows, pages and draws. A dataset page lists every window its source could take, labelled or
not (the snapshot itself takes only the source's labels), so that operators can label them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from dataclasses import replace

import numpy as np

from controller.collect.index import SampleIndex
from controller.collect.index import SampleRecord
from controller.collect.index import Selection
from controller.collect.segments import load_windows
from controller.collect.snapshot import source_selection
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.web.applied import applied_specs
from specs.errors import StoreError
from specs.v1alpha1.dataset import CollectedSource
from wire.logs import get_logger

log = get_logger("web.samples")
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")


def collected_sources(store: StateStore, dataset: str) -> list[CollectedSource] | None:
    """The `collected` sources of a Dataset in the applied specs (None: no such Dataset applied)."""
    repo = applied_specs(store)
    spec = repo.datasets.get(dataset) if repo is not None else None
    if spec is None:
        return None
    return [s for s in spec.spec.sources if isinstance(s, CollectedSource)]


def browse_selection(source: CollectedSource) -> Selection:
    """Every window the source could take, whatever its label (the snapshot keeps only its labels)."""
    return replace(source_selection(source), labels=None)


def narrow(base: Selection, extra: Selection) -> Selection:
    """`base` with the fields `extra` sets (filters the operator adds on top of a dataset's source)."""
    changes = {f: getattr(extra, f) for f in Selection.__dataclass_fields__ if getattr(extra, f) is not None}
    return replace(base, **changes)


def page(index: SampleIndex, selection: Selection, offset: int, limit: int) -> tuple[list[SampleRecord], int]:
    """Samples `offset`..`offset+limit` of a selection (oldest first, as the index orders them) and the total."""
    total = index.count(selection)
    if offset >= total:
        return [], total
    return index.select(selection, limit=offset + limit)[offset:], total


def newest_page(index: SampleIndex, selection: Selection, number: int, per: int) -> tuple[list[SampleRecord], int]:
    """Page `number` (from 1) of a selection, newest first, and the total: what an operator labels is
    usually what was just recorded."""
    total = index.count(selection)
    end = total - (number - 1) * per
    if end <= 0:
        return [], total
    return index.select(selection, limit=end)[max(0, end - per):][::-1], total


@dataclass(frozen=True)
class SessionRow:
    session: str
    samples: int
    devices: int
    labels: dict[str, int]   # current label ("" for none) -> samples


def sessions(index: SampleIndex, selection: Selection) -> list[SessionRow]:
    """The recording sessions of a selection, newest first, with their label mix."""
    by_session: dict[str, list[SampleRecord]] = {}
    for r in index.select(selection):
        if r.session is not None:
            by_session.setdefault(r.session, []).append(r)
    rows = [SessionRow(s, len(rs), len({r.device_id for r in rs}), dict(Counter(r.label or "" for r in rs)))
            for s, rs in by_session.items()]
    last = {s: max(r.ts for r in rs) for s, rs in by_session.items()}
    return sorted(rows, key=lambda row: -last[row.session])


def sparklines(artifacts: ArtifactStore | None, records: list[SampleRecord]) -> dict[int, str]:
    """An inline SVG per sample id; none when the window bytes cannot be read (said in the log)."""
    if artifacts is None or not records:
        return {}
    try:
        windows = load_windows(artifacts, records)
    except StoreError as err:
        log.warning("sample windows unreadable; no sparklines", extra={"error": str(err)})
        return {}
    return {r.id: sparkline_svg(w) for r, w in zip(records, windows)}


def sparkline_svg(window: np.ndarray, width: int = 160, height: int = 32) -> str:
    """One polyline per channel of a time series (readings x channels, up to 8 channels, more readings
    than channels) on a shared vertical scale. Images and other shapes are drawn flattened."""
    data = np.asarray(window, dtype=np.float64)
    if data.ndim == 2 and data.shape[1] <= len(COLOURS) and data.shape[0] > data.shape[1]:
        series = data.T
    else:
        series = data.reshape(1, -1)
    finite = series[np.isfinite(series)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = high - low or 1.0
    n = series.shape[1]
    step = max(1, n // width)   # at most about one point per pixel
    xs = np.arange(0, n, step)
    lines = []
    for colour, values in zip(COLOURS, series):
        ys = np.nan_to_num(values[xs], nan=low)
        points = " ".join(f"{x * (width - 1) / max(n - 1, 1):.1f},{(height - 1) - (y - low) * (height - 2) / span:.1f}"
                          for x, y in zip(xs, ys))
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{points}"/>')
    return (f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="window of {n} readings">{"".join(lines)}</svg>')
