"""A fleet's rollout progress by strategy step and by board class (pure)."""
from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping

from pydantic import ValidationError

from controller.planning.membership import assign_fleets
from controller.reconciler.strategy import resolve_strategy
from controller.state.records import DesiredRecord
from controller.state.records import DeviceRecord
from controller.state.records import ObjectStatus
from controller.state.records import RolloutRecord
from controller.web.views import BoardProgress
from controller.web.views import ProgressView
from controller.web.views import StepView
from specs.v1alpha1.fleet import Fleet
from specs.v1alpha1.fleet import Rollout

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


def fleet_progress(fleet: ObjectStatus, rollout: RolloutRecord | None, members: list[DeviceRecord]) -> ProgressView:
    # per board, the fleet's own verdicts (proof of digest, generation and health), never versions
    status = fleet.fleet
    boards: dict[str, dict[str, int]] = {}
    for d in members:
        counts = boards.setdefault(d.board or "unknown", {"members": 0, "updated": 0, "pending": 0, "failed": 0,
                                                          "waiting": 0})
        counts["members"] += 1
        counts[status.states.get(d.device_id, "waiting")] += 1
    total = status.members or len(members)
    updated = status.updated
    return ProgressView(members=total, updated=updated, pending=status.pending, failed=status.failed,
                        waiting=status.waiting,
                        percent=round(100.0 * updated / total, 1) if total else 0.0,
                        steps=strategy_steps(rollout, total),
                        boards=[BoardProgress(board=b, **c) for b, c in sorted(boards.items())])
