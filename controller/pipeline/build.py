"""`build_model`: dataset snapshot -> training -> squeeze + measure per variant -> gates -> cards.

Every stage goes through the stage cache, so a second build with the same inputs trains and
converts nothing; changing only a variant re-squeezes that variant only. Gates are a pure
function of the recorded figures and are evaluated on every build.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from controller.limits import DEFAULT_LIMITS, Limits
from controller.pipeline.cards import (
    card_json,
    card_markdown,
    confusion_png,
    size_vs_metric_png,
    training_curves_png,
)
from controller.pipeline.gates import evaluate_gates, runtime_metrics
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import CachedOnly, NotBuilt, StageCache
from specs.errors import StageError
from wire.logs import get_logger

log = get_logger("pipeline.build")
Say = Callable[[str], None]  # one progress line


class StageKeys(Protocol):
    """A model's stage keys, computed by `controller.planning.keys.model_keys` (the one key function)."""

    dataset: str
    train: str
    variants: dict[str, str]
    cards: str

    def all(self) -> dict[str, str]: ...


@dataclass
class VariantResult:
    name: str
    quantization: str
    options: dict                  # the variant's spec section (pruning, clustering, qat)
    steps: list[str]
    squeeze_key: str
    tflite_digest: str
    size_bytes: int
    c_array_bytes: int
    gzip_bytes: int
    accuracy: float | None         # classification: on the test split, via TFLM when it runs there, else LiteRT
    mae: float | None              # regression: likewise
    litert: dict                   # metrics through the TFLite (LiteRT) interpreter
    tflm: dict | None              # metrics through the TFLM interpreter (None: does not run on TFLM)
    tflm_error: str | None
    operators: list[str]
    parameters: int
    nonzero_parameters: int
    macs: int
    arena_bytes: int | None        # measured smallest TFLM arena (rounded to 16 B)
    arena_reported_bytes: int | None
    gate: dict                     # {"passed", "failing_figures", "failures"}
    cards: dict[str, str] = field(default_factory=dict)  # file name -> path in the artifact store
    cached: bool = False

    @property
    def passed(self) -> bool:
        return bool(self.gate["passed"])

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ModelBuild:
    model: str
    dataset: str
    task: str
    keys: dict[str, str]
    dataset_digest: str
    model_digest: str
    training: dict                 # {"metrics", "history", "epochs_run"}
    variants: list[VariantResult]
    executions: dict[str, int]     # stages that ran in this build, per kind

    @property
    def passed_variants(self) -> list[str]:
        return [v.name for v in self.variants if v.passed]

    def variant(self, name: str) -> VariantResult:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "variants"},
                "variants": [v.to_dict() for v in self.variants]}

    @classmethod
    def from_dict(cls, data: dict) -> ModelBuild:
        """The inverse of to_dict (the reconciler reads builds back from its state store)."""
        return cls(**{**data, "variants": [VariantResult(**v) for v in data["variants"]]})


class _Lazy:
    """Load the snapshot / Keras model only when a stage that needs it actually runs."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._snapshot = None
        self._model = None
        self.snapshot_digest: str | None = None
        self.model_digest: str | None = None

    def snapshot(self):
        from controller.pipeline.datasets import Snapshot

        if self._snapshot is None:
            self._snapshot = Snapshot.decode(self.store.read_bytes(self.snapshot_digest))
        return self._snapshot

    def model(self):
        from controller.pipeline.tf_runtime import import_tf

        if self._model is None:
            _, keras = import_tf()
            self._model = keras.models.load_model(self.store.path(self.model_digest), compile=False)
        return self._model


def built_model(repo, model_name: str, keys: StageKeys, store: ArtifactStore, cache: StageCache, *,
                count_hits: bool = False) -> ModelBuild | None:
    """The model's build read back from its stage records (figures, gates), or None when a stage has
    not run: no training, no TensorFlow import."""
    try:
        return build_model(repo, model_name, keys, store, CachedOnly(cache, count_hits=count_hits))
    except NotBuilt:
        return None


def build_model(repo, model_name: str, keys: StageKeys, store: ArtifactStore, cache: StageCache | CachedOnly,
                progress: Say | None = None, *, allow_repo_code: bool = False,
                limits: Limits = DEFAULT_LIMITS) -> ModelBuild:
    """Run (or reuse) every stage of one model of a validated spec repository, under the stage keys
    the planner computed for it."""
    if model_name not in repo.models:
        raise StageError(f"no Model named {model_name!r} in {repo.root}; models: {', '.join(sorted(repo.models))}")
    say = progress or (lambda _message: None)
    before = dict(cache.executions)
    model = repo.models[model_name]
    spec = model.spec
    dataset = repo.datasets[spec.dataset]
    lazy = _Lazy(store)

    # 1. dataset snapshot
    def snapshot_stage():
        from controller.pipeline.datasets import build_snapshot

        say(f"dataset {spec.dataset}: building snapshot")
        snap = build_snapshot(dataset.spec, repo.source_of(dataset.ref), root=repo.root, limits=limits)
        lazy._snapshot = snap
        digest = store.put_bytes(snap.encode(), {"kind": "dataset-snapshot", "dataset": spec.dataset,
                                                 "stage_key": keys.dataset})
        sizes = {split: int(len(snap.y(split))) for split in ("train", "validation", "test")}
        return {"snapshot": digest}, {"samples": sizes, "classes": snap.classes, "input_shape": list(snap.input_shape)}

    snap_record = cache.run("dataset", keys.dataset, snapshot_stage)
    lazy.snapshot_digest = snap_record.outputs["snapshot"]

    # 2. training
    def train_stage():
        from controller.pipeline.training import train

        say(f"model {model_name}: training ({spec.training.epochs} epochs max)")
        outcome = train(lazy.snapshot(), spec, repo.source_of(model.ref), say, label=f"train {model_name}",
                        allow_repo_code=allow_repo_code, root=repo.root, limits=limits)
        lazy._model = outcome.model
        with tempfile.TemporaryDirectory(prefix="origami-train-") as tmp:
            path = Path(tmp) / "model.h5"
            outcome.model.save(path, include_optimizer=False)
            digest = store.put_file(path, {"kind": "keras-model", "model": model_name, "stage_key": keys.train,
                                           "dataset_snapshot": lazy.snapshot_digest})
        history = store.put_json(outcome.history, {"kind": "training-history", "model": model_name})
        return ({"model": digest, "history": history},
                {"metrics": outcome.metrics, "history": outcome.history, "epochs_run": outcome.epochs_run})

    train_record = cache.run("train", keys.train, train_stage)
    lazy.model_digest = train_record.outputs["model"]
    float_metrics = train_record.result["metrics"]

    # 3. squeeze and measure every variant
    variants: list[VariantResult] = []
    for variant in spec.variants:
        key = keys.variants[variant.name]

        def squeeze_stage(variant=variant, key=key):
            from controller.pipeline.measure import measure_variant
            from controller.pipeline.squeeze import squeeze

            say(f"model {model_name}: squeezing variant {variant.name}")
            outcome = squeeze(lazy.model(), variant, lazy.snapshot(), spec.training, say,
                              label=f"squeeze {model_name}/{variant.name}")
            digest = store.put_bytes(outcome.tflite, {"kind": "tflite", "model": model_name, "variant": variant.name,
                                                      "stage_key": key, "keras_model": lazy.model_digest})
            say(f"model {model_name}: measuring variant {variant.name} on LiteRT and TFLM")
            figures = measure_variant(outcome.tflite, outcome.model, lazy.snapshot(),
                                      symbol=f"{model_name}_{variant.name}".replace("-", "_"))
            return {"tflite": digest}, {"figures": figures, "steps": outcome.steps}

        record = cache.run("squeeze", key, squeeze_stage)
        figures = record.result["figures"]
        gate = evaluate_gates(spec.gates, dataset.spec.task, figures, float_metrics)
        metrics = runtime_metrics(figures)
        variants.append(VariantResult(
            name=variant.name, quantization=variant.quantization,
            options=variant.model_dump(mode="json", exclude={"name", "quantization"}),
            steps=record.result["steps"], squeeze_key=key, tflite_digest=record.outputs["tflite"],
            size_bytes=figures["size_bytes"], c_array_bytes=figures["c_array_bytes"],
            gzip_bytes=figures["gzip_bytes"], accuracy=metrics.get("accuracy"), mae=metrics.get("mae"),
            litert=figures["litert"], tflm=figures["tflm"], tflm_error=figures["tflm_error"],
            operators=figures["operators"], parameters=figures["parameters"],
            nonzero_parameters=figures["nonzero_parameters"], macs=figures["macs"],
            arena_bytes=figures["arena_bytes"], arena_reported_bytes=figures["arena_reported_bytes"],
            gate=gate.to_dict(), cached=record.cached))
        if not gate.passed:
            log.warning("variant failed its gates", extra={"model": model_name, "variant": variant.name,
                                                           "failing": gate.failing_figures})

    # 4. model cards
    context = {"task": dataset.spec.task, "dataset": spec.dataset, "dataset_digest": lazy.snapshot_digest,
               "model_digest": lazy.model_digest, "float_metrics": float_metrics,
               "training": {"epochs_run": train_record.result["epochs_run"], "history": train_record.result["history"]},
               "stage_keys": keys.all()}

    def cards_stage():
        say(f"model {model_name}: writing model cards")
        rows = [{"name": v.name, "figures": {"size_bytes": v.size_bytes, "tflm": v.tflm, "litert": v.litert},
                 "gate": v.gate} for v in variants]
        plot = {"kind": "plot", "model": model_name}
        shared = {"training_curves.png": store.put_bytes(training_curves_png(train_record.result["history"]), plot),
                  "size_vs_accuracy.png": store.put_bytes(size_vs_metric_png(dataset.spec.task, rows), plot)}
        outputs = {}
        classes = snap_record.result["classes"]
        for v in variants:
            as_dict = v.to_dict()
            for name, digest in shared.items():
                outputs[f"{v.name}/{name}"] = digest
            if dataset.spec.task == "classification":
                matrix = runtime_metrics({"tflm": v.tflm, "litert": v.litert})["confusion_matrix"]
                outputs[f"{v.name}/confusion.png"] = store.put_bytes(
                    confusion_png(matrix, classes, f"{model_name}/{v.name}"), {"kind": "plot"})
            outputs[f"{v.name}/card.json"] = store.put_bytes(card_json(model_name, as_dict, context),
                                                             {"kind": "model-card", "model": model_name,
                                                              "variant": v.name})
            outputs[f"{v.name}/card.md"] = store.put_bytes(card_markdown(model_name, as_dict, context),
                                                           {"kind": "model-card", "model": model_name,
                                                            "variant": v.name, "media_type": "text/markdown"})
        # The stage keys of this build: garbage collection keeps a recent build's whole chain through them.
        return outputs, {"model": model_name, "stage_keys": keys.all()}

    cards_record = cache.run("cards", keys.cards, cards_stage)
    for v in variants:
        prefix = f"{v.name}/"
        v.cards = {role[len(prefix):]: str(store.path(digest))
                   for role, digest in cards_record.outputs.items() if role.startswith(prefix)}

    executions = {kind: cache.executions[kind] - before.get(kind, 0) for kind in cache.executions}
    return ModelBuild(model=model_name, dataset=spec.dataset, task=dataset.spec.task, keys=keys.all(),
                      dataset_digest=lazy.snapshot_digest, model_digest=lazy.model_digest,
                      training={"metrics": float_metrics, "history": train_record.result["history"],
                                "epochs_run": train_record.result["epochs_run"]},
                      variants=variants, executions={k: v for k, v in executions.items() if v})
