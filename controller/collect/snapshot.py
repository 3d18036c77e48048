"""Collected samples as a dataset source: the provider the pipeline calls for `type: collected`.

Each collected source pins a snapshot: a manifest (in the artifact store) listing exactly which
windows it holds and the label each had when pinned. The pipeline's `digest(source)` is the
pinned snapshot's digest, `sha256` over the sorted "window-digest label" lines: the same windows
with the same labels give the same digest, whatever their ids, segments or arrival order; a label
change gives another. `retrain.decide` says when a new snapshot is due.

    provider = CollectedSnapshots(index, artifacts, store=state)   # store: Dataset events (optional)
    provider.configure(repo.datasets)                              # retrain policies by source
    register_collected_provider(provider)
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from controller.collect.index import SampleIndex
from controller.collect.index import Selection
from controller.collect.retrain import SnapshotDecision
from controller.collect.retrain import decide
from controller.collect.segments import load_windows
from controller.pipeline.collected import CollectedSamples
from controller.store.artifacts import ArtifactStore
from specs.errors import StageError
from specs.v1alpha1.dataset import CollectedSource
from wire.logs import get_logger

log = get_logger("collect.snapshot")

EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


def source_key(source: CollectedSource) -> str:
    return hashlib.sha256(source.model_dump_json().encode()).hexdigest()


def source_selection(source: CollectedSource) -> Selection:
    return Selection(sensor=source.sensor, fleet=source.fleet, labels=tuple(source.labels), window=source.window)


def snapshot_digest(entries: list[tuple[str, str]]) -> str:
    """Digest of a sample set: sorted (window digest, label) pairs."""
    h = hashlib.sha256()
    for digest, label in sorted(entries):
        h.update(f"{digest} {label}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class PinnedSnapshot:
    digest: str
    manifest: str            # artifact digest of the manifest
    count: int
    reason: str


class CollectedSnapshots:
    """Implements `controller.pipeline.collected.CollectedSamplesProvider`."""

    def __init__(self, index: SampleIndex, artifacts: ArtifactStore, *, store=None) -> None:
        self.index = index
        self.artifacts = artifacts
        self.store = store                       # StateStore for Dataset events, or None
        self._policies: dict[str, tuple[str | None, int | None]] = {}   # source key -> (dataset, minNewSamples)
        self._lock = threading.Lock()

    def configure(self, datasets: dict) -> None:
        """Learn each collected source's dataset name and retrain policy (`{name: Dataset}`)."""
        policies = {}
        for name, dataset in datasets.items():
            spec = getattr(dataset, "spec", dataset)
            for source in spec.sources:
                if isinstance(source, CollectedSource):
                    policies[source_key(source)] = (name, spec.retrain.minNewSamples if spec.retrain else None)
        with self._lock:
            self._policies = policies

    # --- the provider interface ---------------------------------------------------------------
    def digest(self, source: CollectedSource) -> str:
        pinned = self.refresh(source)
        return pinned.digest if pinned else EMPTY_DIGEST

    def samples(self, source: CollectedSource) -> CollectedSamples:
        pinned = self.refresh(source)
        if pinned is None:
            return CollectedSamples(np.zeros((0, source.window, 1), np.float32), [], EMPTY_DIGEST)
        return self.load(pinned.manifest)

    # --- pinning ------------------------------------------------------------------------------
    def refresh(self, source: CollectedSource) -> PinnedSnapshot | None:
        """The source's pinned snapshot, taking a new one first when the retrain policy says so."""
        key = source_key(source)
        with self._lock:
            dataset, min_new = self._policies.get(key, (None, None))
            pin = self.index.pin(key)
            pinned = self._pinned_labels(pin["manifest"]) if pin else None
            records = self.index.select(source_selection(source))
            current = {r.id: r.label for r in records}
            decision = decide(pinned, current, min_new)
            if not decision.take:
                return PinnedSnapshot(pin["digest"], pin["manifest"], pin["count"], pin["reason"]) if pin else None
            return self._pin(key, dataset, source, records, decision)

    def _pin(self, key: str, dataset: str | None, source: CollectedSource, records, decision: SnapshotDecision):
        entries = [{"id": r.id, "digest": r.digest, "label": r.label, "blob": r.blob, "offset": r.offset,
                    "shape": list(r.shape), "device": r.device_id, "ts": r.ts} for r in records]
        entries.sort(key=lambda e: (e["digest"], e["label"], e["id"]))
        digest = snapshot_digest([(e["digest"], e["label"]) for e in entries])
        manifest = self.artifacts.put_json(
            {"source": source.model_dump(mode="json"), "digest": digest, "samples": entries},
            {"kind": "collected-snapshot", "dataset": dataset, "snapshot": digest})
        self.index.put_pin(key, dataset, digest, manifest, len(entries), self.index.label_revision(), decision.reason)
        log.info("collected snapshot pinned", extra={"dataset": dataset, "snapshot": digest[:12],
                                                     "samples": len(entries), "reason": decision.reason})
        if self.store is not None and dataset is not None:
            self.store.emit("Dataset", dataset, "SnapshotPinned",
                            f"collected snapshot {digest[:12]} of {len(entries)} samples "
                            f"(fleet {source.fleet}, sensor {source.sensor}): {decision.message}")
        return PinnedSnapshot(digest, manifest, len(entries), decision.reason)

    def _pinned_labels(self, manifest: str) -> dict[int, str]:
        return {e["id"]: e["label"] for e in self.artifacts.read_json(manifest)["samples"]}

    def load(self, manifest: str) -> CollectedSamples:
        """Exactly the windows and labels a manifest pins (labels as pinned, not as they are now)."""
        doc = self.artifacts.read_json(manifest)
        entries = doc["samples"]

        @dataclass(frozen=True)
        class _Ref:
            blob: str
            offset: int
            shape: tuple

        windows = load_windows(self.artifacts, [_Ref(e["blob"], e["offset"], tuple(e["shape"])) for e in entries])
        shapes = {w.shape for w in windows}
        if len(shapes) > 1:
            raise StageError(f"collected snapshot {doc['digest'][:12]} mixes window shapes {sorted(shapes)}; "
                             "relabel or exclude the odd sensor's samples")
        x = np.stack(windows).astype(np.float32) if windows else np.zeros((0, 1), np.float32)
        if x.ndim == 2:
            x = x[..., None]
        return CollectedSamples(x, [e["label"] for e in entries], doc["digest"])

    def pinned_manifest(self, source: CollectedSource) -> dict | None:
        pin = self.index.pin(source_key(source))
        return self.artifacts.read_json(pin["manifest"]) if pin else None
