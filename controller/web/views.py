"""What the HTTP API returns: pydantic models of the CLI's JSON output, and their builders.

The shapes are those of `origami status|get|describe|events --output json` (the same keys, so a
script can switch between the CLI and the API); the API adds fields the CLI has no room for
(progress per step and per board class, model-card figures), never renames one.
"""
from __future__ import annotations

from typing import Annotated
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic import model_validator

from controller.collect.index import Rejection
from controller.collect.labels import check_label
from controller.reconciler.build_progress import running
from controller.reconciler.conditions import summary
from controller.state import StateStore
from controller.state.records import InstallRecord
from controller.state.records import ObjectStatus
from specs.errors import UsageError


class View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConditionView(View):
    type: str
    status: bool
    reason: str
    message: str
    since: float


class ObjectView(View):
    """One object's status, as `origami get KIND -o json` prints it."""

    kind: str
    name: str
    observed_commit: str | None
    desired_key: str | None
    conditions: dict[str, ConditionView]
    last_error: str | None
    failures: int
    next_attempt: float
    detail: dict[str, Any]
    created_at: float
    updated_at: float
    status: str = Field(description="Ready, Reconciling, Stalled, NotReady or Unknown")


class SourceView(View):
    observed: str | None
    lastGood: str | None


class StatusView(View):
    """`origami status -o json`."""

    source: SourceView
    objects: list[ObjectView]
    devices: int
    building: list[dict[str, Any]] = Field(default_factory=list, description=(
        "the builds running now: target, startedAt, and their last progress note (summary, stage/stages, "
        "done/total epochs, etaSeconds)"))


class EventView(View):
    seq: int
    ts: float
    kind: str
    name: str
    type: str
    reason: str
    message: str
    commit: str | None


class DeviceRow(View):
    """One row of `origami get devices -o json`."""

    id: str
    board: str | None
    labels: dict[str, str]
    online: bool
    reported: str | None
    healthy: bool | None
    fleet: str | None
    desired: str | None
    lastSeen: float
    sync: str = "-"  # updated | pending | failed | waiting (the fleet's verdict), "-" outside any fleet
    reason: str = ""  # why it is not updated, as the fleet's last pass saw it


class DesiredView(View):
    device_id: str
    fleet: str
    version: str
    install_id: str
    payload: dict[str, Any]
    assigned_at: float
    reached_at: float | None


class DeviceDetail(View):
    """`origami describe device/ID -o json`, plus the capabilities from its hello."""

    device_id: str
    board: str | None
    labels: dict[str, str]
    hello: dict[str, Any]
    reported: dict[str, Any]
    reported_version: str | None
    healthy: bool | None
    online: bool
    first_seen: float
    last_seen: float
    online_since: float | None = None
    desired: DesiredView | None
    installs: list[InstallRecord]  # the state store's own records
    capabilities: dict[str, Any] | None


class RolloutView(View):
    fleet: str
    target: str | None
    last_good: str | None
    previous_good: str | None
    failed_version: str | None
    step: int
    step_done_at: float | None
    strategy: dict[str, Any]
    paused: bool
    undo_requested: bool
    phase: str
    failures: list[str]
    updated_at: float
    retry_requested: bool = False
    started_at: float | None = None


class BoardProgress(View):
    board: str
    members: int
    updated: int
    pending: int
    failed: int
    waiting: int


class StepView(View):
    step: int
    quota: int = Field(description="members on the target once this step has started")
    state: str = Field(description="done, current or upcoming")


class ProgressView(View):
    members: int
    updated: int
    pending: int
    failed: int
    waiting: int
    percent: float
    steps: list[StepView]
    boards: list[BoardProgress]


class FleetView(ObjectView):
    """`origami describe fleet/NAME -o json` (events, rollout) plus progress per step and board class."""

    model: str | None = Field(default=None, description="the model the fleet runs (from the applied specs)")
    events: list[EventView]
    rollout: RolloutView | None = None
    progress: ProgressView


class BoardFit(View):
    board: str
    ram: int
    flash: int
    runtime: str
    fits: bool | None = Field(description="the variant's measured arena and size fit this board once the Model's "
                              "split.firmwareReserve is set aside, the rule the controller selects by "
                              "(None: not TFLM)")


class VariantView(View):
    name: str
    passed: bool
    quantization: str | None
    size: int | None
    accuracy: float | None
    mae: float | None
    arena: int | None
    digest: str | None
    failures: list[Any]
    tflm: bool | None
    figures: dict[str, str] = Field(description="figure file name -> URL of the PNG")
    boards: list[BoardFit]


class CardView(View):
    task: str | None
    dataset: str | None
    float_metrics: dict[str, Any]
    epochs_run: int | None
    history: dict[str, list[float]]


class ModelView(ObjectView):
    variants: list[VariantView]
    card: CardView | None
    events: list[EventView]


class DatasetView(ObjectView):
    events: list[EventView]


class ActionResult(View):
    fleet: str
    action: str
    by: str
    event: int = Field(description="sequence number of the event that records the action")
    message: str


class Problem(View):
    detail: str


# --- builders -------------------------------------------------------------------------------------
def object_view(o: ObjectStatus) -> dict:
    return o.to_dict() | {"status": summary(o)}


def status_view(store: StateStore) -> StatusView:
    observed, good = store.source_state()
    return StatusView(source=SourceView(observed=observed, lastGood=good),
                      objects=[ObjectView(**object_view(o)) for o in store.objects()], devices=len(store.devices()),
                      building=running(store))


def device_rows(store: StateStore) -> list[DeviceRow]:
    """Every device with its fleet's verdict: a device is "updated" only when its fleet's last pass
    saw it prove the desired digest, generation and health (never by comparing version strings)."""
    desired = store.desired()
    verdicts: dict[str, tuple[str, str, str]] = {}  # device -> (fleet, state, reason)
    for fleet in store.objects("Fleet"):
        for device_id, state in fleet.fleet.states.items():
            verdicts[device_id] = (fleet.name, state, fleet.fleet.reasons.get(device_id, ""))
    rows = []
    for d in store.devices():
        want = desired.get(d.device_id)
        fleet, sync, reason = verdicts.get(d.device_id, (want.fleet if want else None, "-", ""))
        rows.append(DeviceRow(id=d.device_id, board=d.board, labels=d.labels, online=d.online,
                              reported=d.reported_version, healthy=d.healthy, fleet=fleet,
                              desired=want.version if want else None, lastSeen=d.last_seen, sync=sync,
                              reason=reason))
    return rows


def device_detail(store: StateStore, device_id: str) -> DeviceDetail | None:
    d = store.device(device_id)
    if d is None:
        return None
    want = store.desired().get(device_id)
    return DeviceDetail(**vars(d), desired=DesiredView(**vars(want)) if want else None,
                        installs=store.installs(device_id),
                        capabilities=d.hello.get("capabilities"))


def event_views(events) -> list[EventView]:
    return [EventView(**e.to_dict()) for e in events]


# --- collected samples (`origami samples ls|label -o json`) ---------------------------------------
class SampleView(View):
    """One row of `origami samples ls -o json`."""

    id: int
    device: str
    sensor: str
    ts: float = Field(description="window start, device clock (Unix seconds)")
    digest: str
    shape: list[int]
    dtype: str
    rateHz: float
    session: str | None
    fleet: str | None
    campaign: str | None
    label: str | None
    labelRevision: int


class SampleDeviceCounters(View):
    device_id: str
    messages: int
    windows: int
    duplicates: int
    rejected: int
    out_of_order: int
    boot: str | None
    last_seq: int | None
    last_received: float | None


class SampleCounts(View):
    """`origami samples ls --counts -o json`: samples per label ("" for unlabelled), collector counters
    per device."""

    labels: dict[str, int]
    devices: dict[str, SampleDeviceCounters]


# A rejected samples message (`origami samples ls --rejected -o json`) is the index's own record.
RejectionView = Rejection


class LabelResult(View):
    changed: int = Field(description="samples whose label changed")
    label: str | None = Field(description="the label set (None: labels removed)")
    how: str = Field(description="session, range or one")
    by: str
    event: int = Field(description="sequence number of the event that records the action")
    labelRevision: int = Field(description="the label history's latest revision after the change")
    message: str


MAX_ID = 2 ** 62  # SQLite integers are 64-bit signed
Text = Annotated[str, Field(min_length=1, max_length=253)]


class LabelRequest(View):
    """What to label, one way of three (as `origami samples label`): a `session` (optionally one
    `device`'s windows), a time range `since`..`until` (optionally one `device`'s or `sensor`'s), or
    sample `ids`. `label: null` removes the label."""

    label: str | None = Field(description="the label to set; null removes it", min_length=1, max_length=63)
    session: str | None = Field(default=None, min_length=1, max_length=63)
    since: float | None = Field(default=None, ge=-1e12, le=1e12, description="window start at or after (Unix s)")
    until: float | None = Field(default=None, ge=-1e12, le=1e12, description="window start before (Unix s)")
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(default=None, min_length=1, max_length=10_000)
    device: Text | None = None
    sensor: Text | None = Field(default=None, description="time ranges only")
    dataset: Text | None = Field(default=None, description="record the action in this Dataset's event trail")

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        try:
            return check_label(value)
        except UsageError as err:
            raise ValueError(str(err)) from None

    @model_validator(mode="after")
    def _one_way(self) -> LabelRequest:
        ranged = self.since is not None or self.until is not None
        if [self.session is not None, ranged, self.ids is not None].count(True) != 1:
            raise ValueError("choose what to label: `session`, or `since` and `until`, or `ids`")
        if ranged and (self.since is None or self.until is None or self.until <= self.since):
            raise ValueError("a time range needs `since` and a later `until`")
        if self.sensor is not None and not ranged:
            raise ValueError("`sensor` narrows time ranges only")
        if self.device is not None and self.ids is not None:
            raise ValueError("`device` narrows sessions and time ranges, not `ids`")
        return self
