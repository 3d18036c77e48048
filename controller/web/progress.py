"""A fleet's rollout progress by strategy step and by board class (pure)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from controller.planning.membership import assign_fleets
from controller.reconciler.strategy import resolve_strategy
from controller.state.records import (
    DesiredRecord,
    DeviceRecord,
    ObjectStatus,
    RolloutRecord,
)
from controller.web.views import BoardProgress, ProgressView, StepView
from specs.v1alpha1.fleet import Fleet, Rollout

MAX_STEPS = 200  # a 1-device batch over a huge fleet: show the first steps, not thousands


def fleet_members(name: str, fleets: Mapping[str, Fleet] | None, devices: Iterable[DeviceRecord],
                  desired: Mapping[str, DesiredRecord]) -> list[DeviceRecord]:
    """The loop's own membership rule when the applied specs are known, else the devices assigned to it."""
    devices = list(devices)
    if fleets and name in fleets:
        return assign_fleets(fleets, devices)[0][name]
    return [d for d in devices if (want := desired.get(d.device_id)) and want.fleet == name]


def strategy_steps(rollout: RolloutRecord | None, members: int) -> list[StepView]:
    if rollout is None or not rollout.strategy or members == 0:
        return []
    try:
        resolved = resolve_strategy(Rollout.model_validate(rollout.strategy), members)
    except ValidationError:
        return []
    steps, step = [], 0
    while step < MAX_STEPS:
        quota = resolved.quota(step, members)
        finished = rollout.phase == "complete" or step < rollout.step
        state = "done" if finished else "current" if step == rollout.step and rollout.phase == "progressing" \
            else "upcoming"
        steps.append(StepView(step=step, quota=quota, state=state))
        if quota >= members:
            break
        step += 1
    return steps


def fleet_progress(fleet: ObjectStatus, rollout: RolloutRecord | None, members: list[DeviceRecord],
                   desired: Mapping[str, DesiredRecord]) -> ProgressView:
    target = rollout.target if rollout else fleet.detail.get("target")
    failures = set(rollout.failures) if rollout else set()
    boards: dict[str, dict[str, int]] = {}
    for d in members:
        want = desired.get(d.device_id)
        counts = boards.setdefault(d.board or "unknown", {"members": 0, "updated": 0, "pending": 0, "failed": 0,
                                                          "waiting": 0})
        counts["members"] += 1
        assigned = want is not None and want.fleet == fleet.name and want.version == target
        if assigned and d.reported_version == target and d.healthy is not False:
            counts["updated"] += 1
        elif d.device_id in failures:
            counts["failed"] += 1
        elif assigned:
            counts["pending"] += 1
        else:
            counts["waiting"] += 1
    detail = fleet.detail
    total = int(detail.get("members", len(members)) or 0)
    updated = int(detail.get("updated", 0) or 0)
    return ProgressView(members=total, updated=updated, pending=int(detail.get("pending", 0) or 0),
                        failed=int(detail.get("failed", 0) or 0), waiting=int(detail.get("waiting", 0) or 0),
                        percent=round(100.0 * updated / total, 1) if total else 0.0,
                        steps=strategy_steps(rollout, total),
                        boards=[BoardProgress(board=b, **c) for b, c in sorted(boards.items())])
