"""The narrow interfaces the loop drives, so that it depends on what it needs and no more.

The real implementations: the ML pipeline (`controller.pipeline`, building a model's variants
with figures and gate results), variant selection and firmware/bundles (`controller.devices`,
`controller.firmware`, `controller.split`), and the controller-side `DeviceHub` on MQTT
(`controller.devices.hub`). `controller.reconciler.wiring` connects them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from controller.loading import SpecRepository
from specs.v1alpha1.protocol import DesiredState, Hello, Presence, ReportedState, Target

Progress = Callable[[str, float], None]  # (what, fraction done 0..1)


@dataclass(frozen=True)
class Artifact:
    """What a device of one class installs for one fleet version."""

    digest: str
    size: int
    target: Target
    variant: str
    note: str = ""  # why this variant: the devices' selection reason, the split decision
    firmware: str | None = None  # digest of the rendered (or built) firmware project, MCU classes
    firmware_status: str = ""  # "built" or "rendered: <why no toolchain build>"
    tail: str | None = None  # digest of the split tail a worker serves, when the device runs a head

    def to_dict(self) -> dict:
        return {"digest": self.digest, "size": self.size, "target": self.target.model_dump(mode="json"),
                "variant": self.variant, "note": self.note, "firmware": self.firmware,
                "firmware_status": self.firmware_status, "tail": self.tail}

    @classmethod
    def from_dict(cls, d: dict) -> Artifact:
        return cls(d["digest"], d["size"], Target(**d["target"]), d["variant"], d.get("note", ""),
                   d.get("firmware"), d.get("firmware_status", ""), d.get("tail"))


@dataclass
class ModelOutcome:
    """A built model as the loop records it: figures per variant and whether it passed its gates."""

    variants: dict[str, dict] = field(default_factory=dict)  # name -> {passed, failures, size, accuracy, ...}
    dataset_digest: str | None = None
    stages_run: dict[str, int] = field(default_factory=dict)  # kind -> executions in this build
    handle: object = None  # the builder's own result, handed back to `artifacts_for`


class Builder(Protocol):
    def build(self, repo: SpecRepository, model: str, progress: Progress) -> ModelOutcome:
        """Snapshot, train, squeeze and measure one model (cached by content); raises StageError."""

    def artifact_for(self, repo: SpecRepository, fleet: str, outcome: ModelOutcome, board: str,
                     hello: Hello | None) -> Artifact:
        """The artifact that fits a device class (whole model, or split head); raises StageError
        with the reason when no variant fits or passes its gates."""


Observation = Hello | ReportedState | Presence


class DeviceLink(Protocol):
    def poll(self) -> list[Observation]:
        """What devices said since the last call (hellos, reported states, presence changes)."""

    def set_desired(self, device_id: str, desired: DesiredState) -> None:
        """Publish a device's desired state (retained) and be ready to serve its artifact."""

    # Optional: `settle(quiet_s, limit_s)` waits for retained hellos after connecting, and
    # `on_activity(callback)` wakes the loop when a device reports (both used when present).
