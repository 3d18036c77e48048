"""Plain records read from and written to the state store (no I/O here)."""
from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from specs.v1alpha1.status import DatasetStatus
from specs.v1alpha1.status import FleetStatus
from specs.v1alpha1.status import KindStatus
from specs.v1alpha1.status import ModelStatus
from specs.v1alpha1.status import status_for

__all__ = ["CONDITION_TYPES", "CommitRecord", "Condition", "DesiredRecord", "DeviceRecord", "Event", "InstallRecord",
           "Lease", "ObjectStatus", "RolloutRecord"]

CONDITION_TYPES = ("Ready", "Reconciling", "Stalled")
_TYPED = ("Source", "Dataset", "Model", "Fleet")


@dataclass(frozen=True)
class Condition:
    type: str  # Ready | Reconciling | Stalled
    status: bool
    reason: str
    message: str = ""
    since: float = 0.0


@dataclass
class ObjectStatus:
    kind: str
    name: str
    observed_commit: str | None = None
    desired_key: str | None = None
    conditions: dict[str, Condition] = field(default_factory=dict)
    last_error: str | None = None
    failures: int = 0
    next_attempt: float = 0.0
    detail: KindStatus | dict[str, Any] | None = None  # typed per kind (specs/v1alpha1/status.py)
    created_at: float = 0.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if self.detail is None or isinstance(self.detail, dict):  # JSON from the store, or a literal
            self.detail = status_for(self.kind, self.detail) if self.kind in _TYPED else None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def fleet(self) -> FleetStatus:
        assert isinstance(self.detail, FleetStatus), self.ref
        return self.detail

    @property
    def model(self) -> ModelStatus:
        assert isinstance(self.detail, ModelStatus), self.ref
        return self.detail

    @property
    def dataset(self) -> DatasetStatus:
        assert isinstance(self.detail, DatasetStatus), self.ref
        return self.detail

    def detail_json(self) -> dict[str, Any]:
        return self.detail.dump() if self.detail is not None and not isinstance(self.detail, dict) else {}

    def is_true(self, condition: str) -> bool:
        c = self.conditions.get(condition)
        return bool(c and c.status)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in vars(self).items() if k not in ("conditions", "detail")}
        d["conditions"] = {k: asdict(v) for k, v in self.conditions.items()}
        d["detail"] = self.detail_json()
        return d


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    source: str
    observed_at: float
    valid: bool
    issues: list[str]
    texts: list[tuple[str, str]] | None


@dataclass(frozen=True)
class DeviceRecord:
    device_id: str
    board: str | None
    labels: dict[str, str]
    hello: dict
    reported: dict
    reported_version: str | None
    healthy: bool | None
    online: bool
    first_seen: float
    last_seen: float
    online_since: float | None = None  # start of the current online period (presence went up)


@dataclass(frozen=True)
class DesiredRecord:
    device_id: str
    fleet: str
    version: str
    install_id: str
    payload: dict
    assigned_at: float
    reached_at: float | None


@dataclass(frozen=True)
class InstallRecord:
    install_id: str
    device_id: str
    fleet: str
    version: str
    artifact: str | None
    reason: str
    recorded_at: float


@dataclass(frozen=True)
class Lease:
    """Work one controller replica holds until `expires_at` (renewed each pass): `fleet/NAME`, `build/KEY`."""
    name: str
    holder: str
    term: int  # grows at every takeover: an act checks it still holds the term it was granted
    acquired_at: float
    expires_at: float


@dataclass
class RolloutRecord:
    fleet: str
    target: str | None = None
    last_good: str | None = None
    previous_good: str | None = None
    failed_version: str | None = None
    step: int = 0
    step_done_at: float | None = None
    strategy: dict = field(default_factory=dict)
    paused: bool = False
    undo_requested: bool = False
    phase: str = "idle"  # idle | progressing | complete | halted | rolled-back
    failures: list[str] = field(default_factory=list)  # members that failed the version of this attempt
    updated_at: float = 0.0
    retry_requested: bool = False  # operator retry, like undo_requested: set by the operator, cleared by the loop
    started_at: float | None = None  # this attempt on `target` began: earlier assignments are not in flight

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    seq: int
    ts: float
    kind: str
    name: str
    type: str  # Normal | Warning
    reason: str
    message: str
    commit: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
