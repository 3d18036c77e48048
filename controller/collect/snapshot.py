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
from specs.v1alpha1.collection import AUDIO_SENSORS
from specs.v1alpha1.collection import PCM16_FULL_SCALE
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
                    "shape": list(r.shape), "dtype": r.dtype, "device": r.device_id, "ts": r.ts} for r in records]
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
        return load_manifest(self.artifacts, manifest)

    def pinned_manifest(self, source: CollectedSource) -> dict | None:
        pin = self.index.pin(source_key(source))
        return self.artifacts.read_json(pin["manifest"]) if pin else None


@dataclass(frozen=True)
class _Ref:
    blob: str
    offset: int
    shape: tuple


def load_manifest(artifacts: ArtifactStore, manifest: str) -> CollectedSamples:
    """The windows and labels a snapshot manifest pins. Microphone windows of int16 PCM are read as
    fractions of full scale, in [-1, 1) like generated speech and WAV files, so that the audio front
    end sees the same numbers whichever source the audio came from."""
    doc = artifacts.read_json(manifest)
    entries = doc["samples"]
    windows = load_windows(artifacts, [_Ref(e["blob"], e["offset"], tuple(e["shape"])) for e in entries])
    shapes = {w.shape for w in windows}
    if len(shapes) > 1:
        raise StageError(f"collected snapshot {doc['digest'][:12]} mixes window shapes {sorted(shapes)}; "
                         "relabel or exclude the odd sensor's samples")
    if doc.get("source", {}).get("sensor") in AUDIO_SENSORS:
        windows = [w / np.float32(PCM16_FULL_SCALE) if e.get("dtype") == "int16" else w
                   for w, e in zip(windows, entries)]
    x = np.stack(windows).astype(np.float32) if windows else np.zeros((0, 1), np.float32)
    if x.ndim == 2:
        x = x[..., None]
    return CollectedSamples(x, [e["label"] for e in entries], doc["digest"])


class PinnedManifests:
    """The provider inside the build worker, a process without the sample index: exactly the snapshots
    the controller pinned when it computed the build's keys (`pinned_for_build`), read from the artifact store."""

    def __init__(self, artifacts: ArtifactStore, manifests: dict[str, str]) -> None:
        self.artifacts = artifacts
        self.manifests = dict(manifests)      # source key -> manifest artifact digest

    def digest(self, source: CollectedSource) -> str:
        manifest = self.manifests.get(source_key(source))
        return self.artifacts.read_json(manifest)["digest"] if manifest else EMPTY_DIGEST

    def samples(self, source: CollectedSource) -> CollectedSamples:
        manifest = self.manifests.get(source_key(source))
        if manifest is None:    # nothing was pinned when the build was planned, as CollectedSnapshots says
            return CollectedSamples(np.zeros((0, source.window, 1), np.float32), [], EMPTY_DIGEST)
        return load_manifest(self.artifacts, manifest)


def pinned_for_build(provider, sources) -> dict[str, str] | None:
    """Source key -> pinned manifest of each collected source among `sources`, for a build in another
    process; None when there is none or this process has no collector (the build then says it needs
    one). Only what is pinned already: pinning now could give the build other data than its keys say."""
    collected = [s for s in sources if isinstance(s, CollectedSource)]
    if not collected or not isinstance(provider, CollectedSnapshots):
        return None
    pins = {}
    for source in collected:
        if pin := provider.index.pin(source_key(source)):
            pins[source_key(source)] = pin["manifest"]
    return pins
