"""`build_model`: dataset snapshot -> training -> squeeze + measure per variant -> gates -> cards.

Every stage goes through the stage cache, so a second build with the same inputs trains and
converts nothing; changing only a variant re-squeezes that variant only. Gates are a pure
function of the recorded figures and are evaluated on every build.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Protocol

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.pipeline.cards import card_json
from controller.pipeline.cards import card_markdown
from controller.pipeline.cards import confusion_png
from controller.pipeline.cards import size_vs_metric_png
from controller.pipeline.cards import training_curves_png
from controller.pipeline.gates import evaluate_gates
from controller.pipeline.gates import runtime_ineligibility
from controller.pipeline.gates import runtime_metrics
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import CachedOnly
from controller.store.stage_cache import NotBuilt
from controller.store.stage_cache import StageCache
from specs.errors import StageError
from wire.logs import Say
from wire.logs import get_logger
from wire.progress import stage_line

log = get_logger("pipeline.build")


class StageKeys(Protocol):
    """A model's stage keys, computed by `controller.planning.keys.model_keys` (the one key function)."""

    @property
    def dataset(self) -> str: ...

    @property
    def train(self) -> str: ...

    @property
    def variants(self) -> dict[str, str]: ...

    @property
    def cards(self) -> str: ...

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
    # LUT compression (None: none): bits, bytes before/after, per weight tensor. A compressed variant
    # runs on TFLM only (DECODE); its `litert` figures are those of the model before compression.
    compression: dict | None = None

    @property
    def tflm_only(self) -> bool:
        return self.compression is not None
    ineligible: dict[str, str] = field(default_factory=dict)  # runtime -> why boards of it cannot take it
    device: dict = field(default_factory=dict)  # what a device needs beside the weights (pipeline.device_info)
    distinct_weights: dict[str, int] = field(default_factory=dict)  # layer -> distinct kernel values

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
    classes: list[str] | None = None              # class names in label order (the model's output order)
    class_counts: dict[str, list[int]] | None = None  # split -> samples per class, in class order

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


def _quantization(tensor: dict | None) -> dict | None:
    """The input tensor as the card's `input_quantization` states it: scale and zero point only when integer."""
    if not tensor:
        return None
    quantized = bool(tensor.get("scale"))
    return {"dtype": tensor["dtype"], "shape": tensor["shape"], "scale": tensor["scale"] if quantized else None,
            "zero_point": tensor["zero_point"] if quantized else None}


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
    the planner computed for it: snapshot, train, squeeze each variant (gates), cards."""
    if model_name not in repo.models:
        raise StageError(f"no Model named {model_name!r} in {repo.root}; models: {', '.join(sorted(repo.models))}")
    before = dict(cache.executions)
    run = _ModelRun(repo, model_name, keys, store, cache, progress or (lambda _message: None),
                    allow_repo_code, limits)
    snap_record = run.snapshot()
    train_record = run.train()
    variants = [run.squeeze(variant, train_record.result["metrics"]) for variant in run.spec.variants]
    classes, counts = snap_record.result["classes"], snap_record.result.get("class_counts")
    run.cards(variants, classes, train_record.result, counts)
    executions = {kind: cache.executions[kind] - before.get(kind, 0) for kind in cache.executions}
    return ModelBuild(model=model_name, dataset=run.spec.dataset, task=run.task, keys=keys.all(),
                      dataset_digest=run.lazy.snapshot_digest, model_digest=run.lazy.model_digest,
                      training={"metrics": train_record.result["metrics"], "history": train_record.result["history"],
                                "epochs_run": train_record.result["epochs_run"]},
                      variants=variants, executions={k: v for k, v in executions.items() if v},
                      classes=classes, class_counts=counts)


class _ModelRun:
    """One model's build, stage by stage; each stage runs only when the stage cache lacks its key."""

    def __init__(self, repo, model_name: str, keys: StageKeys, store: ArtifactStore,
                 cache: StageCache | CachedOnly, say: Say, allow_repo_code: bool, limits: Limits) -> None:
        self.repo, self.name, self.keys, self.store, self.cache, self.say = repo, model_name, keys, store, cache, say
        self.allow_repo_code, self.limits = allow_repo_code, limits
        self.model = repo.models[model_name]
        self.spec = self.model.spec
        self.dataset = repo.datasets[self.spec.dataset]
        self.task = self.dataset.spec.task
        self.lazy = _Lazy(store)
        self.stages = 3 + len(self.spec.variants)  # snapshot, train, one per variant, cards

    def _stage(self, number: int, text: str) -> None:
        """A stage's progress line, numbered, so that a terminal can show `[2/5]` and a bar."""
        self.say(stage_line(number, self.stages, text))

    # 1. dataset snapshot
    def snapshot(self):
        spec, keys, store = self.spec, self.keys, self.store

        def stage():
            from controller.pipeline.datasets import build_snapshot
            from controller.pipeline.datasets import class_counts

            self._stage(1, f"dataset {spec.dataset}: building snapshot")
            snap = build_snapshot(self.dataset.spec, self.repo.source_of(self.dataset.ref), root=self.repo.root,
                                  limits=self.limits)
            self.lazy._snapshot = snap
            digest = store.put_bytes(snap.encode(), {"kind": "dataset-snapshot", "dataset": spec.dataset,
                                                     "stage_key": keys.dataset})
            sizes = {split: int(len(snap.y(split))) for split in ("train", "validation", "test")}
            return {"snapshot": digest}, {"samples": sizes, "classes": snap.classes,
                                          "class_counts": class_counts(snap), "input_shape": list(snap.input_shape)}

        record = self.cache.run("dataset", keys.dataset, stage)
        self.lazy.snapshot_digest = record.outputs["snapshot"]
        return record

    # 2. training
    def train(self):
        spec, keys, store, name = self.spec, self.keys, self.store, self.name

        def stage():
            from controller.pipeline.training import train

            self._stage(2, f"model {name}: training ({spec.training.epochs} epochs max)")
            outcome = train(self.lazy.snapshot(), spec, self.repo.source_of(self.model.ref), self.say,
                            label=f"train {name}", allow_repo_code=self.allow_repo_code, root=self.repo.root,
                            limits=self.limits)
            self.lazy._model = outcome.model
            with tempfile.TemporaryDirectory(prefix="origami-train-") as tmp:
                path = Path(tmp) / "model.h5"
                outcome.model.save(path, include_optimizer=False)
                digest = store.put_file(path, {"kind": "keras-model", "model": name, "stage_key": keys.train,
                                               "dataset_snapshot": self.lazy.snapshot_digest})
            history = store.put_json(outcome.history, {"kind": "training-history", "model": name})
            return ({"model": digest, "history": history},
                    {"metrics": outcome.metrics, "history": outcome.history, "epochs_run": outcome.epochs_run})

        record = self.cache.run("train", keys.train, stage)
        self.lazy.model_digest = record.outputs["model"]
        return record

    # 3. squeeze and measure one variant, then its gates (a pure function of the figures)
    def squeeze(self, variant, float_metrics: dict) -> VariantResult:
        key, name, store = self.keys.variants[variant.name], self.name, self.store
        number = 3 + self.spec.variants.index(variant)

        def stage():
            from controller.pipeline.measure import measure_variant
            from controller.pipeline.squeeze import squeeze

            self._stage(number, f"model {name}: squeezing variant {variant.name}")
            outcome = squeeze(self.lazy.model(), variant, self.lazy.snapshot(), self.spec.training, self.say,
                              label=f"squeeze {name}/{variant.name}")
            digest = store.put_bytes(outcome.tflite, {"kind": "tflite", "model": name, "variant": variant.name,
                                                      "stage_key": key, "keras_model": self.lazy.model_digest})
            self._stage(number, f"model {name}: measuring variant {variant.name} on LiteRT and TFLM")
            figures = measure_variant(outcome.tflite, outcome.model, self.lazy.snapshot(),
                                      symbol=f"{name}_{variant.name}".replace("-", "_"),
                                      compression=outcome.compression, uncompressed=outcome.uncompressed)
            return {"tflite": digest}, {"figures": figures, "steps": outcome.steps}

        record = self.cache.run("squeeze", key, stage)
        figures = record.result["figures"]
        gate = evaluate_gates(self.spec.gates, self.task, figures, float_metrics)
        metrics = runtime_metrics(figures)
        if not gate.passed:
            log.warning("variant failed its gates", extra={"model": name, "variant": variant.name,
                                                           "failing": gate.failing_figures})
        return VariantResult(
            name=variant.name, quantization=variant.quantization,
            options=variant.model_dump(mode="json", exclude={"name", "quantization"}),
            steps=record.result["steps"], squeeze_key=key, tflite_digest=record.outputs["tflite"],
            size_bytes=figures["size_bytes"], c_array_bytes=figures["c_array_bytes"],
            gzip_bytes=figures["gzip_bytes"], accuracy=metrics.get("accuracy"), mae=metrics.get("mae"),
            litert=figures["litert"], tflm=figures["tflm"], tflm_error=figures["tflm_error"],
            operators=figures["operators"], parameters=figures["parameters"],
            nonzero_parameters=figures["nonzero_parameters"], macs=figures["macs"],
            arena_bytes=figures["arena_bytes"], arena_reported_bytes=figures["arena_reported_bytes"],
            gate=gate.to_dict(), cached=record.cached, compression=figures.get("compression"),
            ineligible=runtime_ineligibility(variant.quantization, figures), device=figures.get("device") or {},
            distinct_weights=figures.get("distinct_weights") or {})

    # 4. model cards: one per variant, the plots they share, a confusion matrix for classifiers
    def cards(self, variants: list[VariantResult], classes: list, training: dict,
              class_counts: dict[str, list[int]] | None = None) -> None:
        name, store = self.name, self.store
        context = {"task": self.task, "dataset": self.spec.dataset, "dataset_digest": self.lazy.snapshot_digest,
                   "model_digest": self.lazy.model_digest, "float_metrics": training["metrics"],
                   "training": {"epochs_run": training["epochs_run"], "history": training["history"]},
                   "stage_keys": self.keys.all(), "classes": classes, "class_counts": class_counts}

        def stage():
            from controller.pipeline.pareto import board_view
            from controller.pipeline.pareto import model_boards

            reserve = self.spec.split.firmwareReserve
            context["boards"] = [board_view(board, profile, reserve, self.task, [v.to_dict() for v in variants])
                                 for board, profile in model_boards(self.repo, name).items()]
            self._stage(self.stages, f"model {name}: writing model cards")
            # What a device must do to an input before the model (windowing, audio front end,
            # normalisation, then the variant's input quantization) travels in every card.
            context["preprocessing"] = self.lazy.snapshot().preprocessing
            rows = [{"name": v.name, "figures": {"size_bytes": v.size_bytes, "tflm": v.tflm, "litert": v.litert},
                     "gate": v.gate} for v in variants]
            plot = {"kind": "plot", "model": name}
            shared = {"training_curves.png": store.put_bytes(training_curves_png(training["history"]), plot),
                      "size_vs_accuracy.png": store.put_bytes(size_vs_metric_png(self.task, rows), plot)}
            outputs = {}
            for v in variants:
                as_dict = v.to_dict() | {"input_quantization": _quantization(v.device.get("input"))}
                for figure, digest in shared.items():
                    outputs[f"{v.name}/{figure}"] = digest
                if self.task == "classification":
                    matrix = runtime_metrics({"tflm": v.tflm, "litert": v.litert})["confusion_matrix"]
                    outputs[f"{v.name}/confusion.png"] = store.put_bytes(
                        confusion_png(matrix, classes, f"{name}/{v.name}"), {"kind": "plot"})
                card = {"kind": "model-card", "model": name, "variant": v.name}
                outputs[f"{v.name}/card.json"] = store.put_bytes(card_json(name, as_dict, context), card)
                outputs[f"{v.name}/card.md"] = store.put_bytes(card_markdown(name, as_dict, context),
                                                               card | {"media_type": "text/markdown"})
            # The stage keys of this build: garbage collection keeps a recent build's whole chain through them.
            return outputs, {"model": self.name, "stage_keys": self.keys.all()}

        record = self.cache.run("cards", self.keys.cards, stage)
        for v in variants:
            prefix = f"{v.name}/"
            v.cards = {role[len(prefix):]: str(store.path(digest))
                       for role, digest in record.outputs.items() if role.startswith(prefix)}
