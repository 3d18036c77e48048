"""The next step of a fleet's rollout, as a pure function of the strategy, the rollout record and
what each member reports. The loop records the decision and sends the assignments.

Phases: `progressing` (a new version goes out canary-first, then in batches), `complete` (every
member was updated), `halted` (failures reached the threshold or an operator undid the rollout;
the fleet is back on the last good version). Outside `progressing`, members that joined late get
the current version and members that drifted are driven back.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from controller.reconciler.strategy import resolve_strategy
from controller.state.records import RolloutRecord
from specs.v1alpha1.fleet import Rollout


@dataclass(frozen=True)
class Member:
    """One fleet member as the rollout sees it."""

    device_id: str
    desired_version: str | None = None  # what we last assigned it
    assigned_at: float | None = None
    reached: bool = False  # it has reported `desired_version` since that assignment
    reported_version: str | None = None
    healthy: bool | None = None
    failed_version: str | None = None  # a version it reported failing (health check, install error)


@dataclass(frozen=True)
class Assignment:
    device_id: str
    version: str
    reason: str  # canary | batch | join | drift | rollback


@dataclass(frozen=True)
class Note:
    reason: str
    message: str
    warning: bool = False


@dataclass
class Progress:
    members: int = 0
    updated: int = 0  # report the target version and healthy
    pending: int = 0  # assigned the target, not there yet
    failed: int = 0
    waiting: int = 0  # not assigned the target yet


@dataclass
class RolloutDecision:
    record: RolloutRecord
    assignments: list[Assignment] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    ready: bool = False


def _order(fleet: str, device_id: str) -> str:
    """A stable spread: the canary is not always the alphabetically first device."""
    return hashlib.sha256(f"{fleet}/{device_id}".encode()).hexdigest()


def is_updated(m: Member, version: str | None) -> bool:
    return (version is not None and m.desired_version == version and m.reported_version == version
            and m.healthy is not False)


def _failed(m: Member, version: str, now: float, timeout: float) -> bool:
    if m.desired_version != version or is_updated(m, version):
        return False
    timed_out = m.assigned_at is not None and now - m.assigned_at > timeout
    return m.failed_version == version or timed_out


def start(record: RolloutRecord, version: str) -> tuple[RolloutRecord, Note]:
    """A new desired version supersedes whatever was going on."""
    good = record.target if record.phase != "progressing" and record.target else record.last_good
    previous = record.last_good if good != record.last_good else record.previous_good
    new = replace(record, target=version, last_good=good, previous_good=previous, phase="progressing", step=0,
                  step_done_at=None, failures=[], failed_version=None)
    return new, Note("RolloutStarted", f"rolling out {version}" + (f" (last good {good})" if good else ""))


def undo(record: RolloutRecord) -> tuple[RolloutRecord, Note]:
    """Operator undo: back to the last good version (or the one before, once complete)."""
    if record.phase == "progressing" and record.last_good:
        back = record.last_good
        new = replace(record, failed_version=record.target, target=back, phase="halted", step_done_at=None)
    elif record.previous_good:
        back = record.previous_good
        new = replace(record, failed_version=record.target, target=back, last_good=back, previous_good=None,
                      phase="halted", step_done_at=None)
    else:
        return replace(record, undo_requested=False), Note("UndoRefused", "nothing to undo: no earlier good version",
                                                           warning=True)
    return replace(new, undo_requested=False), Note("RolloutUndone", f"undo: back to {back}", warning=True)


def next_step(fleet: str, strategy: Rollout, record: RolloutRecord, members: list[Member],
              desired_version: str | None, now: float, *, paused: bool = False) -> RolloutDecision:
    """What to do now. Idempotent: called again with the same inputs it assigns nothing new."""
    notes: list[Note] = []
    if record.undo_requested:
        record, note = undo(record)
        notes.append(note)
    elif desired_version and desired_version not in (record.target, record.failed_version):
        record, note = start(record, desired_version)
        notes.append(note)
    decision = RolloutDecision(record=record, notes=notes)
    target = record.target
    total = len(members)
    decision.progress.members = total
    if target is None:
        return decision
    s = resolve_strategy(strategy, total)
    ordered = sorted(members, key=lambda m: _order(fleet, m.device_id))
    on_target = [m for m in ordered if m.desired_version == target]
    updated = [m for m in on_target if is_updated(m, target)]
    failed = [m for m in on_target if _failed(m, target, now, s.device_timeout)]
    failed_ids = {m.device_id for m in failed}
    pending = [m for m in on_target if not is_updated(m, target) and m.device_id not in failed_ids]
    waiting = [m for m in ordered if m.desired_version != target]
    drifted = [m for m in on_target if m.reached and m.reported_version != target
               and m.device_id not in failed_ids and m.failed_version != target]

    if record.phase == "progressing":
        failures = sorted(set(record.failures) | failed_ids)
        record = replace(record, failures=failures)
        if s.failure_threshold and len(failures) >= s.failure_threshold:
            return _halt(fleet, record, ordered, notes, now)
        for m in drifted:
            decision.assignments.append(Assignment(m.device_id, target, "drift"))
        if not paused:
            settled = len(updated) + len(failed)
            quota = s.quota(record.step, total)
            if len(on_target) >= quota and settled == len(on_target):
                if len(on_target) >= total:
                    record = replace(record, phase="complete", previous_good=record.last_good
                                     if record.last_good != target else record.previous_good,
                                     last_good=target, step_done_at=now)
                    notes.append(Note("RolloutComplete", f"{target} on {len(updated)}/{total} member(s)"))
                else:
                    if record.step_done_at is None:
                        record = replace(record, step_done_at=now)
                        label = "canary" if record.step == 0 and s.canary else f"step {record.step}"
                        notes.append(Note("StepComplete", f"{label} of {target}: {len(updated)} updated, "
                                                          f"{len(failed)} failed"))
                    if now - record.step_done_at >= s.pause_seconds:
                        record = replace(record, step=record.step + 1, step_done_at=None)
                        quota = s.quota(record.step, total)
            if record.phase == "progressing":
                room = min(quota - len(on_target), s.in_flight - len(pending))
                reason = "canary" if record.step == 0 and s.canary else "batch"
                for m in waiting[:max(0, room)]:
                    decision.assignments.append(Assignment(m.device_id, target, reason))
    else:
        # Steady state (complete or halted): late joiners get the current version, drift is undone.
        for m in waiting:
            back = record.phase == "halted" and m.desired_version == record.failed_version
            decision.assignments.append(Assignment(m.device_id, target, "rollback" if back else "join"))
        for m in drifted:
            decision.assignments.append(Assignment(m.device_id, target, "drift"))

    decision.record = record
    decision.progress = Progress(total, len(updated), len(pending), len(failed), len(waiting))
    decision.ready = record.phase != "progressing" and len(updated) == total
    return decision


def _halt(fleet: str, record: RolloutRecord, ordered: list[Member], notes: list[Note], now: float
          ) -> RolloutDecision:
    """Too many failures: stop, and send the failed and updated members back to the last good version."""
    bad = record.target
    back = record.last_good
    notes.append(Note("RolloutHalted", f"{len(record.failures)} member(s) failed {bad} "
                                       f"({', '.join(record.failures[:5])}); "
                      + (f"rolling back to {back}" if back else "no earlier good version to roll back to"),
                      warning=True))
    record = replace(record, phase="halted", failed_version=bad, target=back, step_done_at=now)
    decision = RolloutDecision(record=record, notes=notes)
    decision.progress.members = len(ordered)
    if back:
        for m in ordered:
            if m.desired_version == bad:
                decision.assignments.append(Assignment(m.device_id, back, "rollback"))
    return decision
