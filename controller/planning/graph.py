"""The desired-state graph of one commit: datasets -> models -> variants -> bundles per device
class -> fleet rollouts, each node with a content-addressed key.

A key hashes the node's own spec section and the keys of what it depends on, so comparing keys
with the recorded ones tells exactly what a commit changes: a rollout-only edit changes a fleet's
`strategy_key` and nothing upstream; a model edit changes the model, its variants, its bundles and
the `version` every fleet running it rolls out. Pure and TF-free (fast enough for every pass).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata

from controller.loading import SpecRepository

TOOLS = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tflite-micro", "ai-edge-litert")


@lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    """Versions of the tools that shape artifacts; a toolchain upgrade changes every key."""
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def content_key(kind: str, spec: object, inputs: dict[str, str]) -> str:
    payload = json.dumps({"kind": kind, "spec": spec, "inputs": inputs, "tools": tool_versions()},
                         sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class DatasetNode:
    name: str
    key: str


@dataclass(frozen=True)
class ModelNode:
    name: str
    dataset: str
    key: str  # training: architecture, training, dataset key
    variants: dict[str, str]  # variant name -> key (squeeze options, gates, model key)


@dataclass(frozen=True)
class BundleNode:
    model: str
    board: str
    key: str  # what a device of this class installs: model variants, profile, split policy, link


@dataclass(frozen=True)
class FleetNode:
    name: str
    model: str
    boards: tuple[str, ...]  # device classes the selector names (empty: any)
    version: str  # what members must report; changes only when what they run changes
    strategy_key: str  # rollout strategy, health check, pause: changes nothing on devices by itself
    bundles: dict[str, str] = field(default_factory=dict)  # board -> bundle key


@dataclass
class DesiredGraph:
    datasets: dict[str, DatasetNode]
    models: dict[str, ModelNode]
    fleets: dict[str, FleetNode]

    def keys(self) -> dict[str, str]:
        """Object ref -> key, for comparing with the recorded state in one sweep."""
        out = {f"Dataset/{n}": d.key for n, d in self.datasets.items()}
        out |= {f"Model/{n}": m.key for n, m in self.models.items()}
        out |= {f"Fleet/{n}": f.version for n, f in self.fleets.items()}
        return out


def _dump(model) -> dict:
    return model.model_dump(mode="json", by_alias=True)


def build_graph(repo: SpecRepository, boards: set[str] | None = None) -> DesiredGraph:
    """The graph of a valid repository; `boards` adds device classes seen on the fleet (by hello)."""
    profiles = repo.profiles
    datasets = {n: DatasetNode(n, content_key("dataset", _dump(d.spec), {})) for n, d in repo.datasets.items()}
    models: dict[str, ModelNode] = {}
    for name, model in repo.models.items():
        spec = _dump(model.spec)
        training = {k: spec[k] for k in ("architecture", "training", "dataset")}
        key = content_key("train", training, {"dataset": datasets[model.spec.dataset].key})
        variants = {v.name: content_key("squeeze", {"variant": _dump(v), "gates": spec["gates"]}, {"model": key})
                    for v in model.spec.variants}
        models[name] = ModelNode(name, model.spec.dataset, key, variants)
    fleets: dict[str, FleetNode] = {}
    for name, fleet in repo.fleets.items():
        m = models[fleet.spec.model]
        classes = set(fleet.spec.selector.boards) | ({b for b in boards or () if b in profiles}
                                                     if not fleet.spec.selector.boards else set())
        bundles = {}
        for board in sorted(classes):
            profile = _dump(profiles[board].spec) if board in profiles else {"unknown": board}
            bundles[board] = content_key(
                "bundle", {"profile": profile, "split": _dump(repo.models[m.name].spec.split),
                           "link": _dump(fleet.spec.link), "pin": fleet.spec.variant},
                {"model": m.key, **{f"variant:{k}": v for k, v in sorted(m.variants.items())}})
        runs = content_key("release", {"model": m.name, "pin": fleet.spec.variant, "link": _dump(fleet.spec.link),
                                       "split": _dump(repo.models[m.name].spec.split)},
                           {"model": m.key, **{f"variant:{k}": v for k, v in sorted(m.variants.items())}})
        strategy = content_key("strategy", {k: _dump(getattr(fleet.spec, k)) for k in ("rollout", "healthCheck")}
                               | {"paused": fleet.spec.paused, "selector": _dump(fleet.spec.selector)}, {})
        fleets[name] = FleetNode(name, m.name, tuple(fleet.spec.selector.boards), f"{m.name}-{runs[:12]}",
                                 strategy, bundles)
    return DesiredGraph(datasets, models, fleets)
