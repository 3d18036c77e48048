"""The loop's ports wired to the real parts: the ML pipeline and the bundle stage as the `Builder`
(over one artifact store and stage cache under the state directory, shared by `origami build`,
`origami plan` and `origami reconcile`), and the devices' `DeviceHub` on MQTT as the `DeviceLink`."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.loading import SpecRepository
from controller.reconciler.bundles import BundleMaker
from controller.reconciler.ports import Artifact
from controller.reconciler.ports import ModelOutcome
from controller.reconciler.ports import Progress
from controller.reconciler.ports import Rejection
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache


def artifact_dir(state_dir: str | Path | None) -> Path:
    """Where a state directory keeps its artifacts and stage records: one store that `origami build`,
    `origami plan` and `origami reconcile` share (default state directory: the working directory)."""
    return Path(state_dir or ".") / ".origami" / "artifacts"


def outcome_of(build: Any) -> ModelOutcome:
    """The loop's view of a pipeline `ModelBuild`."""
    variants = {}
    for v in build.variants:
        variants[v.name] = {"passed": v.passed, "quantization": v.quantization, "size": v.size_bytes,
                            "gzip": v.gzip_bytes, "accuracy": v.accuracy, "mae": v.mae, "arena": v.arena_bytes,
                            "digest": v.tflite_digest, "failures": v.gate.get("failures", []),
                            "tflm": v.tflm is not None, "tflm_only": v.compression is not None,
                            "ineligible": v.ineligible, "device": v.device}
    return ModelOutcome(variants=variants, dataset_digest=build.dataset_digest,
                        stages_run=dict(build.executions), handle=build)


class PipelineBuilder:
    """Builds in this process (the build queue's thread). Repository code, when a model has an entry
    point, runs here too: the sandboxed builder (`controller.reconciler.sandbox`) is what the
    controller uses when that is not acceptable."""

    def __init__(self, artifacts_dir: str | Path, *, allow_repo_code: bool = False,
                 limits: Limits = DEFAULT_LIMITS, public_key: Any = None) -> None:
        self.allow_repo_code = allow_repo_code
        self.limits = limits
        self.store = ArtifactStore(Path(artifacts_dir))
        self.cache = StageCache(self.store)
        self.bundles = BundleMaker(self.store, self.cache, public_key)  # the controller key firmware trusts
        self._models: dict[str, ModelOutcome] = {}  # cards key -> outcome read back (once per process)

    def is_built(self, key: str) -> bool:
        return self.cache.is_cached(key)

    def model(self, repo: SpecRepository, model: str, keys: Any) -> ModelOutcome | None:
        from controller.pipeline.build import built_model

        known = self._models.get(keys.cards)
        if known is not None and self.cache.is_cached(keys.cards):
            return known
        build = built_model(repo, model, keys, self.store, self.cache, count_hits=True)
        if build is None:
            return None
        outcome = self._models[keys.cards] = outcome_of(build)
        return outcome

    def bundle(self, key: str) -> Artifact | None:
        return self.bundles.built(key)

    def build_model(self, repo: SpecRepository, model: str, keys: Any, progress: Progress) -> ModelOutcome:
        from controller.pipeline.build import build_model

        build = build_model(repo, model, keys, self.store, self.cache, lambda message: progress(message, 0.0),
                            allow_repo_code=self.allow_repo_code, limits=self.limits)
        return outcome_of(build)

    def build_bundle(self, repo: SpecRepository, fleet: str, board: str, key: str, outcome: ModelOutcome,
                     progress: Progress) -> Artifact:
        return self.bundles.build(repo, fleet, board, key, outcome, progress)


class HubLink:
    """The loop's DeviceLink over the devices' `DeviceHub` (MQTT): reports are drained from the
    hub's queue on each pass; desired states are published retained through it."""

    CHANNELS = ("hello", "state", "presence", "events")

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self._last_report = time.monotonic()
        self._wake: list[Callable[[], None]] = []
        self._rejections: queue.Queue[Rejection] = queue.Queue()
        hub.on_report(self._on_report)
        hub.on_rejected(self._on_rejected)

    def _on_report(self, report: Any) -> None:
        if report.channel in self.CHANNELS:
            self._last_report = time.monotonic()
            for wake in self._wake:
                wake()

    def _on_rejected(self, device_id: str, channel: str, reason: str) -> None:
        self._rejections.put(Rejection(device_id, channel, reason))

    def on_activity(self, callback: Callable[[], None]) -> None:
        """Wake the loop when a device says something (a pass then runs at once, not on the interval)."""
        self._wake.append(callback)

    def settle(self, quiet_s: float = 0.5, limit_s: float = 5.0) -> None:
        """After connecting: wait (bounded) until retained hellos and states stop arriving, so the
        first pass decides on the devices that exist rather than on none."""
        started = time.monotonic()
        self._last_report = max(self._last_report, started)
        while time.monotonic() - started < limit_s:
            if time.monotonic() - self._last_report >= quiet_s:
                return
            threading.Event().wait(0.05)

    def poll(self) -> list[Any]:
        out: list[Any] = []
        while True:
            try:
                report = self.hub.reports.get_nowait()
            except queue.Empty:
                break
            if report.channel in self.CHANNELS:
                out.append(report.message)
        while True:
            try:
                out.append(self._rejections.get_nowait())
            except queue.Empty:
                return out

    def set_desired(self, device_id: str, desired: Any) -> None:
        self.hub.set_desired(device_id, desired)

    def reread_retained(self) -> None:
        self.hub.reread_retained()
