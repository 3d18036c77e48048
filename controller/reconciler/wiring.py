"""The loop's ports wired to the real parts: the ML pipeline (`build_model`) as the Builder.

Choosing an artifact per device class is done here from the measured figures only until the
devices' variant selection and the model splitter land: a Linux board gets the best variant that
passed its gates; a microcontroller gets the best int8 variant whose measured size and arena fit
its profile's flash and RAM (less the split policy's firmware reserve). A class that needs a split
model is refused with that reason (the split stage is not wired yet), so its fleet says so.
"""
from __future__ import annotations

from pathlib import Path

from controller.errors import StageError
from controller.loading import SpecRepository
from controller.reconciler.ports import Artifact, ModelOutcome, Progress
from specs.v1alpha1.protocol import Hello, Target


class PipelineBuilder:
    def __init__(self, artifacts_dir: str | Path) -> None:
        from controller.store.artifacts import ArtifactStore
        from controller.store.stage_cache import StageCache

        self.store = ArtifactStore(Path(artifacts_dir))
        self.cache = StageCache(self.store)

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
        spec = repo.fleets[fleet].spec
        profiles = repo.profiles
        if board not in profiles:
            raise StageError(f"no DeviceProfile '{board}' (reported by a device); add one to the specs")
        profile = profiles[board].spec
        reserve = repo.models[spec.model].spec.split.firmwareReserve
        passed = {n: v for n, v in outcome.variants.items() if v["passed"]}
        if spec.variant:
            if spec.variant not in passed:
                raise StageError(f"pinned variant '{spec.variant}' did not pass its gates")
            passed = {spec.variant: passed[spec.variant]}
        if not passed:
            raise StageError("no variant passed its gates; see `origami describe model/" + spec.model + "`")

        def score(item):
            v = item[1]
            return (v["accuracy"] if v["accuracy"] is not None else -(v["mae"] or 0.0), -v["size"])

        if profile.runtime == "litert":
            name, v = max(passed.items(), key=score)
            return Artifact(v["digest"], v["size"], Target(runtime="litert", precision=_precision(v)), name)
        fits = {n: v for n, v in passed.items() if v["tflm"] and v["quantization"] == "int8"
                and v["size"] + reserve <= profile.flash and (v["arena"] or 0) + reserve <= profile.ram}
        if not fits:
            smallest = min((v["arena"] or 0 for v in passed.values()), default=0)
            raise StageError(f"no int8 variant fits {board} (RAM {profile.ram} B less {reserve} B reserve; smallest "
                             f"arena {smallest} B): needs a split model, which is not wired in yet")
        name, v = max(fits.items(), key=score)
        return Artifact(v["digest"], v["size"], Target(runtime="tflm", precision="int8", board=board), name)


def _precision(v: dict) -> str:
    return {"int8": "int8", "float16": "float16", "dynamic": "dynamic"}.get(v["quantization"], "float32")


class HubLink:
    """The loop's DeviceLink over the devices' `DeviceHub` (MQTT): reports are drained from the
    hub's queue on each pass; desired states are published retained through it."""

    def __init__(self, hub) -> None:
        self.hub = hub

    def poll(self) -> list:
        import queue

        out = []
        while True:
            try:
                report = self.hub.reports.get_nowait()
            except queue.Empty:
                return out
            if report.channel in ("hello", "state", "presence"):
                out.append(report.message)

    def set_desired(self, device_id: str, desired) -> None:
        self.hub.set_desired(device_id, desired)
