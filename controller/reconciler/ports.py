"""The narrow interfaces the loop drives, so that it depends on what it needs and no more.

The real implementations: the ML pipeline and the bundle stage behind a `Builder`
(`controller.reconciler.wiring.PipelineBuilder`, or its sandboxed variant that runs builds in a
worker process), and the controller-side `DeviceHub` on MQTT behind a `DeviceLink`
(`controller.reconciler.wiring.HubLink`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from controller.loading import SpecRepository
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import SignedManifest
from specs.v1alpha1.protocol import Target

Progress = Callable[[str, float], None]  # (what, fraction done 0..1)


@dataclass(frozen=True)
class Artifact:
    """What a device of one class installs for one fleet release."""

    digest: str
    size: int
    target: Target
    variant: str
    note: str = ""  # why this variant: the devices' selection reason, the split decision
    firmware: str | None = None  # digest of the rendered (or built) firmware project, MCU classes
    firmware_status: str = ""  # "built" or "rendered: <why no toolchain build>"
    tail: str | None = None  # digest of the split tail a worker serves, when the device runs a head

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "target": self.target.model_dump(mode="json"),
                "variant": self.variant, "note": self.note, "firmware": self.firmware,
                "firmware_status": self.firmware_status, "tail": self.tail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        return cls(d["digest"], d["size"], Target(**d["target"]), d["variant"], d.get("note", ""),
                   d.get("firmware"), d.get("firmware_status", ""), d.get("tail"))


@dataclass
class ModelOutcome:
    """A built model as the loop records it: figures per variant and whether it passed its gates."""

    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {passed, failures, size, ...}
    dataset_digest: str | None = None
    stages_run: dict[str, int] = field(default_factory=dict)  # kind -> executions in this build
    handle: Any = None  # the builder's own result, handed back to `build_bundle`


class Signer(Protocol):
    """The controller's signing key (`controller.devices.signing.Signer`)."""

    key_id: str

    def sign(self, manifest: Manifest) -> SignedManifest: ...

    def sign_desired(self, desired: DesiredState) -> DesiredState: ...


class Builder(Protocol):
    """Runs stages (slow: the loop calls the `build_*` methods from a build thread, never its own)
    and reads finished ones back from the stage cache (fast: the loop calls these every pass)."""

    def is_built(self, key: str) -> bool:
        """Whether the stage recorded under `key` has its outputs in the store."""

    def model(self, repo: SpecRepository, model: str, keys: Any) -> ModelOutcome | None:
        """The model's figures read back from its stage records; None while a stage has not run."""

    def bundle(self, key: str) -> Artifact | None:
        """The bundle recorded under `key`; None while it has not been built."""

    def build_model(self, repo: SpecRepository, model: str, keys: Any, progress: Progress) -> ModelOutcome:
        """Snapshot, train, squeeze and measure one model (cached by stage key); raises StageError."""

    def build_bundle(self, repo: SpecRepository, fleet: str, board: str, key: str, outcome: ModelOutcome,
                     progress: Progress) -> Artifact:
        """The artifact that fits a device class (whole model, or split head); raises StageError with
        the reason when no variant fits or passes its gates."""


Observation = Hello | ReportedState | Presence | Event


@dataclass(frozen=True)
class Rejection:
    """A device message the controller did not accept, and why (shown as a Warning event)."""

    device_id: str
    channel: str
    reason: str


class DeviceLink(Protocol):
    def poll(self) -> list[Observation | Rejection]:
        """What devices said since the last call (hellos, reported states, presence, events, rejections)."""

    def set_desired(self, device_id: str, desired: DesiredState) -> None:
        """Publish a device's desired state (retained) and be ready to serve its artifact."""

    def settle(self) -> None:
        """Wait (bounded) for retained reports after connecting, so a first pass sees the devices."""

    def on_activity(self, callback: Callable[[], None]) -> None:
        """Call `callback` when a device reports (the loop wakes at once instead of on its interval)."""

    def reread_retained(self) -> None:
        """Replicas, on a fleet takeover: read the devices' retained reports again (a no-op where every
        report reaches this controller; see `DeviceHub.reread_retained`)."""
