"""Spec-side budgets, checked at validate time: epochs of every training run, generated samples.

What a build would read from files is checked with the files (`data_files`), what it decodes
while reading (`pipeline.datasets`); here only what the spec text alone makes the controller do.
"""
from __future__ import annotations

import math

from controller.limits import Limits
from controller.limits import exceeds
from controller.loading.documents import LoadedDocument
from controller.loading.issues import SpecIssue
from specs.v1alpha1 import Dataset
from specs.v1alpha1 import Model
from specs.v1alpha1.dataset import GeneratedSource
from specs.v1alpha1.dataset import SpeechSource
from specs.v1alpha1.dataset import generated_shape


def _epochs(model: Model):
    """(path, epochs) of every training run a Model asks for."""
    spec = model.spec
    yield ("spec", "training", "epochs"), spec.training.epochs
    for i, variant in enumerate(spec.variants):
        if variant.pruning:
            yield ("spec", "variants", i, "pruning", "epochs"), variant.pruning.epochs
        if variant.clustering:
            yield ("spec", "variants", i, "clustering", "epochs"), variant.clustering.epochs
        if variant.qat:
            yield ("spec", "variants", i, "qatEpochs"), variant.qatEpochs


def check_budgets(docs: list[LoadedDocument], limits: Limits) -> list[SpecIssue]:
    issues = []
    for doc in docs:
        spec = doc.spec
        if isinstance(spec, Model):
            for path, epochs in _epochs(spec):
                if epochs > limits.max_epochs:
                    issues.append(doc.issue(path, exceeds(limits, "max_epochs", f"{epochs:,} epochs")))
        if isinstance(spec, Dataset):
            samples = values = 0
            for i, source in enumerate(spec.spec.sources):
                if not isinstance(source, GeneratedSource | SpeechSource):
                    continue
                samples += source.samples
                values += source.samples * math.prod(generated_shape(source))
                path = ("spec", "sources", i, "samples" if isinstance(source, GeneratedSource) else "utterancesPerWord")
                if samples > limits.max_samples:
                    issues.append(doc.issue(path, exceeds(limits, "max_samples",
                                                          f"the generated sources reach {samples:,} samples")))
                    break
                if values > limits.max_dataset_values:
                    issues.append(doc.issue(path, exceeds(limits, "max_dataset_values",
                                                          f"the generated sources reach {values:,} values")))
                    break
    return issues
