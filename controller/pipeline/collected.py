"""The interface through which samples collected from a fleet enter a dataset.

The collector (its own issue) registers a provider; the pipeline only asks it for the
labelled windows of a `collected` source and for a digest of exactly that sample set, so
that the dataset stage key changes when, and only when, new samples arrive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from specs.errors import StageError
from specs.v1alpha1.dataset import CollectedSource


@dataclass(frozen=True)
class CollectedSamples:
    x: np.ndarray          # (n, window, channels) float32
    labels: list[str]      # n label names, each one of the source's labels
    digest: str            # sha256 of the sample set, as in CollectedSamplesProvider.digest


class CollectedSamplesProvider(Protocol):
    def digest(self, source: CollectedSource) -> str:
        """A digest of the labelled samples this source selects (cheap: no sample bytes returned)."""

    def samples(self, source: CollectedSource) -> CollectedSamples:
        """The labelled windows this source selects."""


_provider: CollectedSamplesProvider | None = None


def register_collected_provider(provider: CollectedSamplesProvider | None) -> None:
    """Install (or with None, remove) the provider of collected samples."""
    global _provider
    _provider = provider


def registered_provider() -> CollectedSamplesProvider | None:
    """The provider of this process, if any (the sandbox hands its pinned snapshots to the build worker)."""
    return _provider


def collected_provider(source: CollectedSource) -> CollectedSamplesProvider:
    if _provider is None:
        raise StageError(
            f"dataset source 'collected' (fleet {source.fleet}, sensor {source.sensor}) needs the sample collector, "
            "which is not running in this process; start the controller with the collector enabled, "
            "or use files/packaged/generated sources")
    return _provider


def load_collected(source: CollectedSource, *, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The source's pinned windows, labels as indices into its `labels`. `allow_empty`: when the dataset
    has other sources, nothing labelled yet is no error (a model trains on generated data first and
    retrains once the fleet's samples are labelled)."""
    found = collected_provider(source).samples(source)
    if len(found.x) == 0 and allow_empty:
        return np.zeros((0, source.window, 1), np.float32), np.zeros(0, np.int64), list(source.labels)
    if len(found.x) == 0:
        raise StageError(
            f"no labelled samples collected yet from fleet {source.fleet} sensor {source.sensor} "
            f"with labels {', '.join(source.labels)}; collect and label samples first")
    unknown = sorted(set(found.labels) - set(source.labels))
    if unknown:
        raise StageError(f"collected samples carry labels {unknown} that the dataset does not list")
    index = {name: i for i, name in enumerate(source.labels)}
    y = np.array([index[name] for name in found.labels], dtype=np.int64)
    return np.asarray(found.x, dtype=np.float32), y, list(source.labels)
