"""Every stage's identity, defined once (DVC-style): a stage key is the sha256 of the stage's spec
section, the digests of every input it reads and the versions of the tools that shape its output.

    dataset key  = hash(Dataset spec, content digest of every source file)
    train key    = hash(architecture + training, dataset key, source of every repository module the
                        entry point imports)
    squeeze key  = hash(variant spec, train key)
    cards key    = hash(gates, the profiles of the boards the model's fleets reach (the cards' Pareto
                        view), the firmware reserve, train key, every squeeze key)
    bundle key   = hash(DeviceProfile, link, split policy, variant pin, firmware templates, gates,
                        every squeeze key)            one per (fleet, device class)
    release      = hash(model, bundle key of every device class of the fleet)   what members must run

`origami plan`, `origami build` and the reconcile loop all compute keys here and look them up in one
stage cache, so a change retrains exactly what it touches and a rollout-only change retrains nothing.
Pure apart from reading the files a key covers; no TensorFlow import.
"""
from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from controller.firmware.render import template_digest
from controller.loading import SpecRepository
from controller.pipeline.datasets import source_input_digest
from controller.pipeline.pareto import model_boards

# Bump when Origami's own stage code changes what a stage produces for the same inputs.
PIPELINE_VERSION = "3"  # 3: stratified splits, device info measured with every variant

STAGE_TOOLS: dict[str, tuple[str, ...]] = {
    "dataset": ("numpy", "scikit-learn", "pillow"),
    "train": ("tensorflow", "tf-keras", "numpy"),
    "squeeze": ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tflite-micro", "ai-edge-litert",
                "numpy"),
    "cards": ("matplotlib",),
    "bundle": ("tensorflow", "tf-keras", "tflite-micro", "ai-edge-litert", "jinja2"),
    "release": (),
    "strategy": (),
}


@lru_cache(maxsize=1)
def _installed() -> dict[str, str]:
    found = {}
    for name in sorted({t for tools in STAGE_TOOLS.values() for t in tools}):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def tool_versions(kind: str) -> dict[str, str]:
    """Versions (from package metadata, without importing them) of the tools that shape a stage."""
    installed = _installed()
    return {name: installed[name] for name in STAGE_TOOLS.get(kind, ())}


def stage_key(kind: str, spec: Any, inputs: Mapping[str, str]) -> str:
    """The one key function: sha256 over kind, spec section, input digests, tool versions."""
    payload = json.dumps({"kind": kind, "spec": spec, "inputs": dict(inputs), "tools": tool_versions(kind),
                          "origami": PIPELINE_VERSION}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ModelKeys:
    dataset: str
    train: str
    variants: dict[str, str]  # variant name -> squeeze key
    cards: str

    def all(self) -> dict[str, str]:
        """Stage name -> key, in the order the stages run."""
        return {"dataset": self.dataset, "train": self.train,
                **{f"squeeze/{name}": key for name, key in self.variants.items()}, "cards": self.cards}


@dataclass(frozen=True)
class FleetKeys:
    model: str
    boards: tuple[str, ...]  # device classes the release covers
    bundles: dict[str, str] = field(default_factory=dict)  # board -> bundle key
    version: str = ""  # what members must run: "<model>-<release key[:12]>"
    strategy: str = ""  # rollout settings only: changes nothing on devices by itself


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def dataset_key(repo: SpecRepository, name: str) -> str:
    dataset = repo.datasets[name]
    base = repo.source_of(dataset.ref)
    inputs = {f"source{i}": source_input_digest(s, base, root=repo.root) for i, s in enumerate(dataset.spec.sources)}
    return stage_key("dataset", _dump(dataset.spec), inputs)


def model_keys(repo: SpecRepository, name: str, dataset_keys: Mapping[str, str] | None = None) -> ModelKeys:
    model = repo.models[name]
    spec = model.spec
    d_key = dataset_keys[spec.dataset] if dataset_keys else dataset_key(repo, spec.dataset)
    code = entry_point_sources(repo.root, repo.source_of(model.ref), spec.architecture.entryPoint)
    t_key = stage_key("train", {"architecture": _dump(spec.architecture), "training": _dump(spec.training)},
                      {"dataset": d_key, **{f"module:{path}": digest for path, digest in code.items()}})
    variants = {v.name: stage_key("squeeze", _dump(v), {"train": t_key}) for v in spec.variants}
    boards = {board: _dump(profile) for board, profile in model_boards(repo, name).items()}  # the Pareto view
    c_key = stage_key("cards", {"gates": _dump(spec.gates), "model": name, "boards": boards,
                                "reserve": spec.split.firmwareReserve}, {"train": t_key, **variants})
    return ModelKeys(d_key, t_key, variants, c_key)


def bundle_key(repo: SpecRepository, fleet: str, board: str, keys: ModelKeys) -> str:
    """What a device class installs for a fleet: the variant choice, split head and firmware depend on
    the board's profile, the link, the split policy, the pin and the gates; firmware on the templates."""
    spec = repo.fleets[fleet].spec
    model = repo.models[spec.model].spec
    profile = repo.profiles.get(board)
    section = {"profile": _dump(profile.spec) if profile else {"unknown": board}, "link": _dump(spec.link),
               "split": _dump(model.split), "pin": spec.variant, "gates": _dump(model.gates)}
    inputs = {f"variant:{name}": key for name, key in sorted(keys.variants.items())}
    if profile is not None and profile.spec.family == "mcu":
        inputs["firmware-templates"] = template_digest(profile)
    return stage_key("bundle", section, inputs)


def fleet_keys(repo: SpecRepository, fleet: str, keys: ModelKeys, member_boards: set[str]) -> FleetKeys:
    """A fleet's release: the bundle of each device class it can contain (the selector's boards, or
    the boards of its members when the selector names none)."""
    spec = repo.fleets[fleet].spec
    boards = tuple(sorted(spec.selector.boards or member_boards))
    bundles = {board: bundle_key(repo, fleet, board, keys) for board in boards}
    release = stage_key("release", {"model": spec.model, "pin": spec.variant},
                        {"train": keys.train, **{f"bundle:{b}": k for b, k in bundles.items()}})
    strategy = stage_key("strategy", {"rollout": _dump(spec.rollout), "healthCheck": _dump(spec.healthCheck),
                                      "paused": spec.paused, "selector": _dump(spec.selector)}, {})
    return FleetKeys(spec.model, boards, bundles, f"{spec.model}-{release[:12]}", strategy)


# --- the source code an entry point runs ---------------------------------------------------------

def entry_point_sources(root: Path, base: Path, entry_point: str | None) -> dict[str, str]:
    """Repository-relative path -> sha256 of the entry point's module and of every module of the
    repository it imports (transitively): editing any of them retrains the model."""
    if not entry_point:
        return {}
    found: dict[str, str] = {}
    pending = [entry_point.split(":")[0]]
    while pending:
        module = pending.pop()
        path = _module_file(base, module)
        if path is None:
            if not found:
                found[f"<unresolved:{module}>"] = "missing"
            continue
        try:
            relative = path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue  # outside the repository: validation refuses it; never read it here
        if relative in found:
            continue
        source = path.read_bytes()
        found[relative] = hashlib.sha256(source).hexdigest()
        pending += [m for m in _imports(source, module) if _module_file(base, m) is not None]
    return dict(sorted(found.items()))


def _module_file(base: Path, module: str) -> Path | None:
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: bytes, module: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    package = module.rsplit(".", 1)[0] if "." in module else ""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside a repository package
                anchor = package.split(".")[: max(0, len(package.split(".")) - node.level + 1)] if package else []
                prefix = ".".join(anchor + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.append(prefix)
            names += [f"{prefix}.{alias.name}" if prefix else alias.name for alias in node.names]
    return [n for n in names if n]
