"""The loop's ports wired to the real parts: the ML pipeline (`build_model`) as the Builder,
variant selection / split heads / firmware (`controller.reconciler.bundles`) for artifacts, and
the devices' `DeviceHub` on MQTT as the DeviceLink."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from controller.loading import SpecRepository
from controller.reconciler.bundles import BundleMaker
from controller.reconciler.ports import Artifact, ModelOutcome, Progress
from specs.v1alpha1.protocol import Hello


class PipelineBuilder:
    def __init__(self, artifacts_dir: str | Path) -> None:
        from controller.store.artifacts import ArtifactStore
        from controller.store.stage_cache import StageCache

        self.store = ArtifactStore(Path(artifacts_dir))
        self.cache = StageCache(self.store)
        self.bundles = BundleMaker(self.store, self.cache)

    def build(self, repo: SpecRepository, model: str, progress: Progress) -> ModelOutcome:
        from controller.pipeline.build import build_model

        result = build_model(repo, model, self.store, self.cache, lambda message: progress(message, 0.0))
        variants = {}
        for v in result.variants:
            variants[v.name] = {"passed": v.passed, "quantization": v.quantization, "size": v.size_bytes,
                                "accuracy": v.accuracy, "mae": v.mae, "arena": v.arena_bytes,
                                "digest": v.tflite_digest, "failures": v.gate.get("failures", []),
                                "tflm": v.tflm is not None}
        return ModelOutcome(variants=variants, dataset_digest=result.dataset_digest,
                            stages_run=dict(result.executions), handle=result)

    def artifact_for(self, repo: SpecRepository, fleet: str, outcome: ModelOutcome, board: str,
                     hello: Hello | None) -> Artifact:
        return self.bundles.artifact_for(repo, fleet, outcome, board, hello)


class HubLink:
    """The loop's DeviceLink over the devices' `DeviceHub` (MQTT): reports are drained from the
    hub's queue on each pass; desired states are published retained through it."""

    CHANNELS = ("hello", "state", "presence")

    def __init__(self, hub) -> None:
        self.hub = hub
        self._last_report = time.monotonic()
        self._wake: list[Callable[[], None]] = []
        hub.on_report(self._on_report)

    def _on_report(self, report) -> None:
        if report.channel in self.CHANNELS:
            self._last_report = time.monotonic()
            for wake in self._wake:
                wake()

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

    def poll(self) -> list:
        out = []
        while True:
            try:
                report = self.hub.reports.get_nowait()
            except queue.Empty:
                return out
            if report.channel in self.CHANNELS:
                out.append(report.message)

    def set_desired(self, device_id: str, desired) -> None:
        self.hub.set_desired(device_id, desired)
