"""Checks across documents: duplicate names and references that point at nothing."""
from __future__ import annotations

from controller.loading.documents import LoadedDocument
from controller.loading.issues import SpecIssue
from specs.v1alpha1 import Dataset
from specs.v1alpha1 import DeviceProfile
from specs.v1alpha1 import Fleet
from specs.v1alpha1 import Model
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.dataset import CollectedSource


def _names(docs: list[LoadedDocument], kind: type) -> set[str]:
    return {d.spec.name for d in docs if isinstance(d.spec, kind)}


def _hint(name: str, known: set[str]) -> str:
    return f"; known: {', '.join(sorted(known))}" if known else "; there are none"


def check_duplicates(docs: list[LoadedDocument]) -> list[SpecIssue]:
    first: dict[str, LoadedDocument] = {}
    issues = []
    for doc in docs:
        if doc.ref in first:
            other = first[doc.ref].raw
            line, _ = other.position(("metadata", "name"))
            issues.append(doc.issue(("metadata", "name"),
                                    f"duplicate name: {doc.ref} is already defined at {other.file}:{line}"))
        else:
            first[doc.ref] = doc
    return issues


def check_references(docs: list[LoadedDocument]) -> list[SpecIssue]:
    datasets = _names(docs, Dataset)
    fleets = _names(docs, Fleet)
    models = {d.spec.name: d.spec for d in docs if isinstance(d.spec, Model)}
    boards = set(BUILTIN_PROFILES) | _names(docs, DeviceProfile)
    issues = []
    for doc in docs:
        spec = doc.spec
        if isinstance(spec, Model) and spec.spec.dataset not in datasets:
            issues.append(doc.issue(("spec", "dataset"),
                                    f"Dataset '{spec.spec.dataset}' does not exist"
                                    f"{_hint(spec.spec.dataset, datasets)}"))
        if isinstance(spec, Dataset):
            for i, source in enumerate(spec.spec.sources):
                if isinstance(source, CollectedSource) and source.fleet not in fleets:
                    issues.append(doc.issue(("spec", "sources", i, "fleet"),
                                            f"Fleet '{source.fleet}' does not exist{_hint(source.fleet, fleets)}"))
        if isinstance(spec, Fleet):
            model = models.get(spec.spec.model)
            if model is None:
                issues.append(doc.issue(("spec", "model"),
                                        f"Model '{spec.spec.model}' does not exist"
                                        f"{_hint(spec.spec.model, set(models))}"))
            elif spec.spec.variant is not None:
                variants = {v.name for v in model.spec.variants}
                if spec.spec.variant not in variants:
                    issues.append(doc.issue(("spec", "variant"),
                                            f"Model '{model.name}' has no variant '{spec.spec.variant}'"
                                            f"{_hint(spec.spec.variant, variants)}"))
            for i, board in enumerate(spec.spec.selector.boards):
                if board not in boards:
                    issues.append(doc.issue(("spec", "selector", "boards", i),
                                            f"DeviceProfile '{board}' does not exist{_hint(board, boards)}"))
    return issues
