"""Stage keys of a model, computed without TensorFlow so `origami plan` can say cached vs will run.

dataset key  = hash(dataset spec, source file digests, numpy/scikit-learn versions)
train key    = hash(architecture + training + task, dataset key, entry-point source, TF versions)
squeeze key  = hash(variant spec, train key, TF/converter/TFLM versions)
cards key    = hash(gates, every squeeze key)
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from controller.pipeline.datasets import source_input_digest
from controller.pipeline.tf_runtime import tool_versions
from controller.store.stage_cache import stage_key

# Bump when the pipeline's own code changes what a stage produces.
PIPELINE_VERSION = "1"


@dataclass(frozen=True)
class ModelStageKeys:
    dataset: str
    train: str
    variants: dict[str, str]   # variant name -> squeeze key
    cards: str

    def to_dict(self) -> dict:
        return asdict(self)

    def all(self) -> dict[str, str]:
        return {"dataset": self.dataset, "train": self.train, "cards": self.cards,
                **{f"squeeze/{name}": key for name, key in self.variants.items()}}


def _tools(*packages: str) -> dict[str, str]:
    versions = tool_versions()
    found = {name: versions.get(name, "absent") for name in packages}
    found["origami-pipeline"] = PIPELINE_VERSION
    return found


def _entry_point_digest(entry_point: str | None, search_path: Path) -> str:
    """Hash the module file of a user's entry point, so editing the model retrains it."""
    if not entry_point:
        return "preset"
    module = entry_point.split(":")[0]
    sys.path.insert(0, str(search_path))
    try:
        spec = importlib.util.find_spec(module.split(".")[0]) if "." in module else importlib.util.find_spec(module)
        origin = spec.origin if spec else None
    except (ImportError, ValueError):
        origin = None
    finally:
        sys.path.remove(str(search_path))
    if not origin or not Path(origin).is_file():
        return "unresolved"
    return hashlib.sha256(Path(origin).read_bytes()).hexdigest()


def dataset_key(repo, dataset_name: str) -> str:
    dataset = repo.datasets[dataset_name]
    base = repo.source_of(f"Dataset/{dataset_name}")
    inputs = {f"source{i}": source_input_digest(s, base) for i, s in enumerate(dataset.spec.sources)}
    return stage_key("dataset", dataset.spec.model_dump(mode="json"), inputs, _tools("numpy", "scikit-learn"))


def model_stage_keys(repo, model_name: str) -> ModelStageKeys:
    """Every stage key of one model; pure apart from reading the dataset's source files."""
    model = repo.models[model_name]
    spec = model.spec
    d_key = dataset_key(repo, spec.dataset)
    search_path = repo.source_of(f"Model/{model_name}")
    ml_tools = _tools("tensorflow", "tf-keras", "numpy")
    t_key = stage_key("train", {"architecture": spec.architecture.model_dump(mode="json"),
                                "training": spec.training.model_dump(mode="json")},
                      {"dataset": d_key, "entryPoint": _entry_point_digest(spec.architecture.entryPoint, search_path)},
                      ml_tools)
    squeeze_tools = _tools("tensorflow", "tf-keras", "tensorflow-model-optimization", "tflite-micro", "numpy")
    variants = {v.name: stage_key("squeeze", v.model_dump(mode="json"), {"train": t_key, "dataset": d_key},
                                  squeeze_tools)
                for v in spec.variants}
    c_key = stage_key("cards", {"gates": spec.gates.model_dump(mode="json"), "model": model_name},
                      {"train": t_key, **variants}, _tools("matplotlib"))
    return ModelStageKeys(dataset=d_key, train=t_key, variants=variants, cards=c_key)
