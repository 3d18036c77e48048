"""What the HTTP API returns: pydantic models of the CLI's JSON output, and their builders.

The shapes are those of `origami status|get|describe|events --output json` (the same keys, so a
script can switch between the CLI and the API); the API adds fields the CLI has no room for
(progress per step and per board class, model-card figures), never renames one.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.reconciler.conditions import summary
from controller.state import StateStore
from controller.state.records import ObjectStatus


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


class DesiredView(View):
    device_id: str
    fleet: str
    version: str
    install_id: str
    payload: dict[str, Any]
    assigned_at: float
    reached_at: float | None


class InstallView(View):
    install_id: str
    device_id: str
    fleet: str
    version: str
    artifact: str | None
    reason: str
    recorded_at: float


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
    desired: DesiredView | None
    installs: list[InstallView]
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
    fits: bool | None = Field(description="the variant's measured arena and size fit this board (None: not TFLM)")


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
                      objects=[ObjectView(**object_view(o)) for o in store.objects()], devices=len(store.devices()))


def device_rows(store: StateStore) -> list[DeviceRow]:
    desired = store.desired()
    rows = []
    for d in store.devices():
        want = desired.get(d.device_id)
        rows.append(DeviceRow(id=d.device_id, board=d.board, labels=d.labels, online=d.online,
                              reported=d.reported_version, healthy=d.healthy, fleet=want.fleet if want else None,
                              desired=want.version if want else None, lastSeen=d.last_seen))
    return rows


def device_detail(store: StateStore, device_id: str) -> DeviceDetail | None:
    d = store.device(device_id)
    if d is None:
        return None
    want = store.desired().get(device_id)
    return DeviceDetail(**vars(d), desired=DesiredView(**vars(want)) if want else None,
                        installs=[InstallView(**vars(i)) for i in store.installs(device_id)],
                        capabilities=d.hello.get("capabilities"))


def event_views(events) -> list[EventView]:
    return [EventView(**e.to_dict()) for e in events]
