"""Labelling collected samples: by session, by time range, or one by one.

Every change appends to the label history (`sample_labels`), so a label is never overwritten
without trace, and a snapshot taken before a change keeps the labels it pinned.
"""
from __future__ import annotations

import re

from controller.collect.index import SampleIndex
from controller.collect.index import Selection
from specs.errors import UsageError

_LABEL = re.compile(r"^[^\s/][^/]{0,62}$")


def check_label(label: str | None) -> str | None:
    if label is not None and not _LABEL.match(label):
        raise UsageError(f"label {label!r} must be 1-63 characters, not start with a space, and contain no '/'")
    return label


def label_session(index: SampleIndex, session: str, label: str | None, *, device: str | None = None) -> int:
    """Label every window recorded in `session` (optionally only one device's)."""
    return _apply(index, Selection(session=session, device=device), label, "session",
                  f"no samples in session {session!r}" + (f" from {device}" if device else ""))


def label_range(index: SampleIndex, since: float, until: float, label: str | None, *, device: str | None = None,
                sensor: str | None = None) -> int:
    """Label every window starting in [since, until) (device clock, Unix seconds)."""
    if until <= since:
        raise UsageError(f"time range is empty: --until {until} is not after --since {since}")
    return _apply(index, Selection(since=since, until=until, device=device, sensor=sensor), label, "range",
                  f"no samples start between {since} and {until}")


def label_one(index: SampleIndex, sample_ids: list[int], label: str | None) -> int:
    """Label samples by id (as `origami samples ls` shows them)."""
    found = {r.id for r in index.select(Selection(ids=tuple(sample_ids)))}
    missing = sorted(set(sample_ids) - found)
    if missing:
        raise UsageError(f"no sample with id {', '.join(map(str, missing))}; list them with `origami samples ls`")
    return index.set_label(Selection(ids=tuple(sample_ids)), check_label(label), "one")


def _apply(index: SampleIndex, selection: Selection, label: str | None, how: str, none_found: str) -> int:
    check_label(label)
    if index.count(selection) == 0:
        raise UsageError(none_found + "; list them with `origami samples ls`")
    return index.set_label(selection, label, how)
