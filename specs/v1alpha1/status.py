"""The status the controller records for each kind, beside its conditions: one typed model per kind,
read and written only through these (the state store keeps them as JSON; `origami describe`, the
API and the dashboard show them as they are here).

Unknown fields are ignored when reading, so a state store written by a newer controller still opens.
"""
from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

MemberState = Literal["updated", "pending", "failed", "waiting"]


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SourceStatus(_Status):
    """The spec source: where it is read from and the last commit that validated."""

    source: str = ""
    last_good: str | None = None


class DatasetStatus(_Status):
    snapshot: str | None = None  # digest of the dataset snapshot the models trained on
    models: list[str] = Field(default_factory=list)  # the Models that use it


class GateFailureStatus(_Status):
    """A gate the variant did not pass."""

    figure: str = ""  # accuracy, accuracy_drop, mae, size_bytes, arena_bytes
    value: float | None = None
    limit: float | None = None
    message: str = ""


class VariantFigures(_Status):
    """One squeezed variant as measured by the pipeline."""

    passed: bool | None = None
    quantization: str | None = None
    size: int | None = None
    gzip: int | None = None
    accuracy: float | None = None
    mae: float | None = None
    arena: int | None = None  # measured TFLM tensor arena (bytes)
    digest: str | None = None
    failures: list[GateFailureStatus] = Field(default_factory=list)
    tflm: bool = False  # measured on the TFLM interpreter
    ineligible: dict[str, str] = Field(default_factory=dict)  # runtime -> why its boards cannot take the variant


class ModelStatus(_Status):
    built: bool = False
    keys: dict[str, str] = Field(default_factory=dict)  # stage -> key of the build in force
    variants: dict[str, VariantFigures] = Field(default_factory=dict)
    dataset: str | None = None  # snapshot digest the build trained on
    failed_key: str | None = None  # the build that failed last (its back-off is on the object)


class BundleFailure(_Status):
    board: str
    error: str
    count: int = 1
    next_attempt: float = 0.0


class MemberCounts(_Status):
    """Counts over a fleet's members: updated + pending + failed + waiting == members; offline,
    unhealthy and unsupported count members not updated for that reason."""

    members: int = 0
    updated: int = 0
    pending: int = 0
    failed: int = 0
    waiting: int = 0
    offline: int = 0
    unhealthy: int = 0
    unsupported: int = 0


class FleetStatus(MemberCounts):
    """A fleet's rollout as the last pass saw it, with its member counts."""

    version: str | None = None  # the desired release (from the commit)
    target: str | None = None  # the release being rolled out now
    phase: str | None = None
    strategy_key: str | None = None
    bundles: dict[str, str] = Field(default_factory=dict)  # board -> bundle key of the desired release (kept by GC)
    releases: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)  # version -> board -> artifact
    conflicts: list[str] = Field(default_factory=list)
    boards: list[str] = Field(default_factory=list)
    paused: bool = False
    bundle_failures: dict[str, BundleFailure] = Field(default_factory=dict)  # bundle key -> last failure
    reasons: dict[str, str] = Field(default_factory=dict)  # member -> why it is not updated
    states: dict[str, MemberState] = Field(default_factory=dict)  # member -> its verdict
    labels: dict[str, str] = Field(default_factory=dict)  # the Fleet's metadata.labels (selectors: `get -l`)

    def artifact(self, board: str, version: str | None = None) -> dict[str, Any] | None:
        """The artifact of `version` (default: the desired one) for `board`, when built."""
        return self.releases.get(version or self.version or "", {}).get(board)


KindStatus = SourceStatus | DatasetStatus | ModelStatus | FleetStatus
STATUS_OF_KIND: dict[str, type[_Status]] = {"Source": SourceStatus, "Dataset": DatasetStatus, "Model": ModelStatus,
                                            "Fleet": FleetStatus}


def status_for(kind: str, data: dict[str, Any] | None = None) -> KindStatus:
    """The typed status of `kind` from its JSON form (empty: the defaults)."""
    model = STATUS_OF_KIND.get(kind)
    if model is None:
        raise ValueError(f"no status model for kind {kind!r}")
    return model.model_validate(data or {})  # type: ignore[return-value]
