"""The retrain policy of a Dataset with collected sources, as a pure decision.

A collected source pins a snapshot of labelled windows. It takes a new one when there is none yet,
when a pinned window's label changed (a correction must reach the model), or when enough new
labelled windows arrived (`spec.retrain.minNewSamples`; without a policy, any new window). A new
snapshot changes the dataset's stage key, so the models that use it are retrained, gated and
rolled out like any other change.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SnapshotDecision:
    take: bool
    reason: str           # FirstSnapshot | LabelsChanged | NewSamples | BelowThreshold | NothingNew | NoSamples
    new: int              # labelled windows not in the pinned snapshot
    relabelled: int       # pinned windows whose label changed or was removed
    message: str


def decide(pinned: dict[int, str] | None, current: dict[int, str], min_new: int | None) -> SnapshotDecision:
    """`pinned` and `current` map sample id -> label (current: the source's labelled samples now)."""
    if not current and not pinned:
        return SnapshotDecision(False, "NoSamples", 0, 0, "no labelled samples yet")
    if pinned is None:
        return SnapshotDecision(True, "FirstSnapshot", len(current), 0, f"first snapshot of {len(current)} samples")
    relabelled = sum(1 for sid, label in pinned.items() if current.get(sid) != label)
    new = sum(1 for sid in current if sid not in pinned)
    if relabelled:
        return SnapshotDecision(True, "LabelsChanged", new, relabelled,
                                f"{relabelled} pinned samples were relabelled or unlabelled; {new} new")
    threshold = min_new if min_new is not None else 1
    if new >= threshold:
        return SnapshotDecision(True, "NewSamples", new, 0, f"{new} new labelled samples (policy: {threshold})")
    if new:
        return SnapshotDecision(False, "BelowThreshold", new, 0,
                                f"{new} new labelled samples, {threshold - new} more before a new snapshot")
    return SnapshotDecision(False, "NothingNew", 0, 0, "no new labelled samples")
