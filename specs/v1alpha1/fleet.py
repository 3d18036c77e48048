"""The `Fleet` kind: which devices run which model, and how updates roll out."""
from __future__ import annotations

from typing import Annotated
from typing import Literal

from pydantic import Field

from specs.v1alpha1.common import ByteSize
from specs.v1alpha1.common import Document
from specs.v1alpha1.common import Name
from specs.v1alpha1.common import StrictModel

Percent = Annotated[str, Field(pattern=r"^(100|[1-9]?[0-9])%$")]


class Selector(StrictModel):
    """Devices that said hello and match every label and one of the boards (when given)."""

    matchLabels: dict[str, str] = Field(default_factory=dict)
    boards: list[Name] = Field(default_factory=list, description="DeviceProfile names.")

    def can_share_devices(self, other: Selector) -> bool:
        """Whether one device can match both: boards overlap (none listed means any board) and no
        label asks for two different values."""
        boards = not self.boards or not other.boards or bool(set(self.boards) & set(other.boards))
        contradict = any(key in other.matchLabels and other.matchLabels[key] != value
                         for key, value in self.matchLabels.items())
        return boards and not contradict


class Link(StrictModel):
    """The link between the devices and the tail worker, for the split cost model."""

    bandwidth: ByteSize = Field(default=2_000_000, description="Bytes per second.")
    latencyMs: float = Field(default=20.0, ge=0.0, le=600_000)


class Rollout(StrictModel):
    canary: Annotated[int, Field(ge=0, le=1_000_000)] | Percent = 1
    batchSize: Annotated[int, Field(gt=0, le=1_000_000)] | Percent = "25%"
    maxUnavailable: Annotated[int, Field(ge=0, le=1_000_000)] | Percent = "10%"
    pauseSeconds: float = Field(default=0.0, ge=0.0, le=86_400 * 7)
    failureThreshold: Annotated[int, Field(ge=0, le=1_000_000)] | Percent = 1
    completion: Percent = Field(default="100%", description=(
        "Members that must report the desired digest for the fleet to be Ready once the rollout is done "
        "(rounded up). Below 100%, offline or failed members no longer hold Ready back."))
    deviceTimeoutSeconds: float = Field(default=300.0, gt=0.0, le=86_400 * 7)


class HealthCheck(StrictModel):
    probeInference: bool = True
    maxLatencyMs: float | None = Field(default=None, gt=0.0, le=3_600_000)  # what a signed desired state carries


class Collect(StrictModel):
    """Ask members to record sensor windows for a Dataset's collected source."""

    sensor: str = Field(min_length=1, max_length=63)
    rateHz: float = Field(gt=0.0, le=1_000_000)
    durationSeconds: float = Field(gt=0.0, le=86_400)
    label: str | None = Field(default=None, min_length=1, max_length=63)
    session: str | None = Field(default=None, min_length=1, max_length=63)


class FleetSpec(StrictModel):
    model: Name
    variant: Name | None = Field(default=None, description="Pin a variant; by default the best that fits each device.")
    selector: Selector = Field(default_factory=Selector)
    priority: int | None = Field(
        default=None, ge=-1_000_000, le=1_000_000,
        description="Which fleet takes a device that several selectors match: the higher priority (unset "
                    "counts as 0), then the first name. Fleets that can share devices need distinct values.")
    link: Link = Field(default_factory=Link)
    rollout: Rollout = Field(default_factory=Rollout)
    healthCheck: HealthCheck = Field(default_factory=HealthCheck)
    collect: Collect | None = None
    paused: bool = False


class Fleet(Document):
    kind: Literal["Fleet"]
    spec: FleetSpec

    @property
    def priority(self) -> int:
        return self.spec.priority or 0
