"""The next step of a fleet's rollout, as a pure function of the strategy, the rollout record and what
each member proves. The loop records the decision, then sends the assignments. `docs/rollout.md`
states the semantics and draws the phases:

- `progressing`: a new version goes out canary first, then in batches, never more than
  `maxUnavailable` members in flight, only to online members that are healthy;
- `complete`: every step is done; members that join or come back online get the version;
- `halted`: failures reached `failureThreshold`; the fleet goes back to the last good version and
  stays there until an operator retries or the desired version changes (a revert converges);
- `rolled-back`: an operator undid the rollout; Ready with reason RolledBack once back.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

from controller.reconciler.conditions import Conditions
from controller.reconciler.conditions import fleet_conditions
from controller.reconciler.convergence import Member
from controller.reconciler.convergence import MemberStatus
from controller.reconciler.convergence import assess
from controller.reconciler.convergence import count_members
from controller.reconciler.strategy import Resolved
from controller.reconciler.strategy import resolve_strategy
from controller.state.records import RolloutRecord
from specs.v1alpha1.fleet import Rollout
from specs.v1alpha1.status import MemberCounts

DigestOf = Callable[[str, str | None], str | None]  # (version, board) -> artifact digest, None: no artifact


@dataclass(frozen=True)
class Assignment:
    device_id: str
    version: str
    digest: str
    reason: str  # canary | batch | retry | join | drift | rollback


@dataclass(frozen=True)
class Failure:
    """A failure the decision found (a timeout): the loop adds `version` to the member's failed versions."""

    device_id: str
    version: str
    reason: str


@dataclass(frozen=True)
class Note:
    reason: str
    message: str
    warning: bool = False


@dataclass
class RolloutDecision:
    record: RolloutRecord
    conditions: Conditions
    assignments: list[Assignment] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    forget_failures: str | None = None  # an operator retry: the loop clears every member's failure of it
    progress: MemberCounts = field(default_factory=MemberCounts)
    members: dict[str, MemberStatus] = field(default_factory=dict)  # why each member is (not) updated

    @property
    def ready(self) -> bool:
        return self.conditions.ready.status


def _order(fleet: str, device_id: str) -> str:
    """A stable spread: the canary is not always the alphabetically first device."""
    return hashlib.sha256(f"{fleet}/{device_id}".encode()).hexdigest()


def next_step(fleet: str, strategy: Rollout, record: RolloutRecord, members: Sequence[Member],
              desired_version: str | None, digest_of: DigestOf, now: float, *,
              paused: bool = False) -> RolloutDecision:
    """What to do now. Idempotent: called again with the same inputs (and the assignments recorded)
    it assigns nothing new."""
    s = resolve_strategy(strategy, len(members))
    notes: list[Note] = []
    record, forget = _operator_and_desired(record, desired_version, now, notes)
    ordered = sorted(members, key=lambda m: _order(fleet, m.device_id))
    statuses = _assess(record, ordered, digest_of, now, s, forget)
    timeouts = [Failure(i, record.target, st.reason) for i, st in statuses.items()
                if st.timed_out and record.target is not None]
    notes += [Note("MemberTimedOut", f"{f.device_id}: {f.reason}", warning=True) for f in timeouts]
    if record.phase == "progressing" and record.target is not None:
        before = (record.target, record.started_at)
        record = _progress(record, statuses, s, now, notes)
        if (record.target, record.started_at) != before:  # halted: judge members against the way back
            statuses = _assess(record, ordered, digest_of, now, s, None)
    elif record.phase == "complete":
        failed = {i for i, st in statuses.items() if st.state == "failed"}
        if not failed <= set(record.failures):
            record = replace(record, failures=sorted(set(record.failures) | failed))
    assignments = [] if paused or record.target is None else _assign(record, ordered, statuses, digest_of, s)
    progress = count_members(list(statuses.values()))
    conditions = fleet_conditions(phase=record.phase, target=record.target, held=record.failed_version,
                                  progress=progress, required=s.required, paused=paused,
                                  awaiting=_awaiting(record, statuses, s, now), building=desired_version is None)
    return RolloutDecision(record, conditions, assignments, notes, timeouts, forget, progress, statuses)


# --- transitions ---------------------------------------------------------------------------------

def _operator_and_desired(record: RolloutRecord, desired: str | None, now: float,
                          notes: list[Note]) -> tuple[RolloutRecord, str | None]:
    """Apply an operator undo, then follow the desired version, then an operator retry."""
    forget = None
    if record.undo_requested:
        record = _undo(record, now, notes)
        if record.retry_requested:
            record = replace(record, retry_requested=False)
            notes.append(Note("RetryRefused", "undo and retry requested together: the undo wins", warning=True))
    if desired is not None:
        record = _follow(record, desired, now, notes)
    if record.retry_requested:
        record, forget = _retry(record, now, notes)
    return record, forget


def _start(record: RolloutRecord, version: str, now: float) -> RolloutRecord:
    """A new attempt on `version`; the last good version stays what it was."""
    good = record.target if record.phase in ("complete", "rolled-back") else record.last_good
    return replace(record, target=version, last_good=good, phase="progressing", step=0, step_done_at=None,
                   failures=[], failed_version=None, started_at=now)


def _follow(record: RolloutRecord, desired: str, now: float, notes: list[Note]) -> RolloutRecord:
    if desired == record.target:
        if record.phase in ("halted", "rolled-back"):  # a revert of the bad commit: nothing is held any more
            notes.append(Note("RolloutReverted", f"desired version is {desired} again: {record.failed_version} "
                                                 "is no longer held"))
            return replace(record, phase="complete", failed_version=None)
        return record
    if desired == record.failed_version:
        return record  # still the held version: only a retry or a new version moves on
    record = _start(record, desired, now)
    notes.append(Note("RolloutStarted", f"rolling out {desired}"
                      + (f" (last good {record.last_good})" if record.last_good else "")))
    return record


def _retry(record: RolloutRecord, now: float, notes: list[Note]) -> tuple[RolloutRecord, str | None]:
    """Operator retry: forget the failures of the held (or current) version and start it over."""
    version = record.failed_version if record.phase in ("halted", "rolled-back") else record.target
    record = replace(record, retry_requested=False)
    if version is None:
        notes.append(Note("RetryRefused", "nothing to retry: no rollout", warning=True))
        return record, None
    notes.append(Note("RolloutRetried", f"retrying {version}: its recorded failures are cleared"))
    return _start(record, version, now), version


def _undo(record: RolloutRecord, now: float, notes: list[Note]) -> RolloutRecord:
    """Operator undo: back to the last good version (or the one before it, once complete)."""
    record, before = replace(record, undo_requested=False), record.target
    if record.phase in ("progressing", "halted") and record.last_good:
        back, held = record.last_good, record.failed_version if record.phase == "halted" else record.target
        record = replace(record, target=back, failed_version=held)
    elif record.phase == "complete" and record.previous_good:
        back, held = record.previous_good, record.target
        record = replace(record, target=back, last_good=back, previous_good=None, failed_version=held)
    else:
        notes.append(Note("UndoRefused", "nothing to undo: " + ("already rolled back" if record.phase == "rolled-back"
                                                                 else "no earlier good version"), warning=True))
        return record
    notes.append(Note("RolloutUndone", f"undo: back to {back}; {held} is held until a retry or a new version",
                      warning=True))
    started = now if back != before else record.started_at  # a halt already went back: that attempt goes on
    return replace(record, phase="rolled-back", step_done_at=None, started_at=started)


def _progress(record: RolloutRecord, statuses: dict[str, MemberStatus], s: Resolved, now: float,
              notes: list[Note]) -> RolloutRecord:
    """Count failures (halting at the threshold), then close the current step or the whole rollout."""
    target = record.target
    failed = sorted({i for i, st in statuses.items() if st.state == "failed"} | set(record.failures))
    record = replace(record, failures=failed)
    if s.failure_threshold and len(failed) >= s.failure_threshold:
        return _halt(record, s, now, notes)
    total = len(statuses)
    started = sum(st.state != "waiting" for st in statuses.values())
    pending = sum(st.state == "pending" for st in statuses.values())
    open_ = sum(_can_get(st, judging=True) for st in statuses.values())
    quota = s.quota(record.step, total)
    if pending or started == 0 or (started < quota and open_):  # the step still has members to take
        return record
    updated = sum(st.updated for st in statuses.values())
    if quota >= total:
        rest = total - updated - len(failed)
        notes.append(Note("RolloutComplete", f"{target} on {updated}/{total} member(s)"
                          + (f", {len(failed)} failed" if failed else "")
                          + (f"; {rest} more get it when they are online and healthy" if rest else "")))
        previous = record.last_good if record.last_good != target else record.previous_good
        return replace(record, phase="complete", last_good=target, previous_good=previous, step_done_at=now)
    if record.step_done_at is None:
        label = "canary" if record.step == 0 and s.canary else f"step {record.step}"
        notes.append(Note("StepComplete", f"{label} of {target}: {updated} updated, {len(failed)} failed"))
        record = replace(record, step_done_at=now)
    if record.step_done_at is not None and now - record.step_done_at >= s.pause_seconds:
        record = replace(record, step=record.step + 1, step_done_at=None)
    return record


def _halt(record: RolloutRecord, s: Resolved, now: float, notes: list[Note]) -> RolloutRecord:
    """Too many failures: stop, and take the fleet back to the last good version."""
    bad, back, failed = record.target, record.last_good, record.failures
    notes.append(Note("RolloutHalted", f"{bad} failed on {len(failed)} member(s) ({', '.join(failed[:5])}"
                                       f"{', …' if len(failed) > 5 else ''}), failureThreshold {s.failure_threshold}; "
                      + (f"rolling back to {back}" if back else "no earlier good version to roll back to"),
                      warning=True))
    return replace(record, phase="halted", failed_version=bad, target=back, step_done_at=None, started_at=now)


# --- members and assignments ---------------------------------------------------------------------

def _assess(record: RolloutRecord, ordered: list[Member], digest_of: DigestOf, now: float, s: Resolved,
            forget: str | None) -> dict[str, MemberStatus]:
    target = record.target
    if target is None:
        return {m.device_id: MemberStatus(m.device_id, "waiting", "no version to roll out", offline=not m.online)
                for m in ordered}
    return {m.device_id: assess(m, target, digest_of(target, m.board), attempt_start=record.started_at, now=now,
                                timeout=s.device_timeout, forgotten=forget) for m in ordered}


def _can_get(st: MemberStatus, *, judging: bool) -> bool:
    """May be sent the target now. A member that judges a version (canary, batch, join) must be
    healthy, or its old trouble would be blamed on the new version; going back needs no health."""
    return st.state == "waiting" and st.can_install and (st.healthy or not judging)


def _assign(record: RolloutRecord, ordered: list[Member], statuses: dict[str, MemberStatus], digest_of: DigestOf,
            s: Resolved) -> list[Assignment]:
    target = record.target
    assert target is not None
    judging = record.phase in ("progressing", "complete")
    out = [Assignment(m.device_id, target, _digest(digest_of, target, m), "drift") for m in ordered
           if statuses[m.device_id].drifted and statuses[m.device_id].can_install
           and (statuses[m.device_id].healthy or not judging)]
    pending = sum(st.state == "pending" for st in statuses.values())
    room = s.in_flight - pending
    if record.phase == "progressing":
        started = sum(st.state != "waiting" for st in statuses.values())
        room = min(room, s.quota(record.step, len(ordered)) - started)
    candidates = [m for m in ordered if _can_get(statuses[m.device_id], judging=judging)]
    if not judging:  # going back: members that run the held version first
        candidates.sort(key=lambda m: m.desired_version != record.failed_version)
    for m in candidates[:max(0, room)]:
        out.append(Assignment(m.device_id, target, _digest(digest_of, target, m), _reason(record, m, s)))
    return out


def _digest(digest_of: DigestOf, version: str, m: Member) -> str:
    digest = digest_of(version, m.board)
    assert digest is not None  # only members with an artifact are assigned
    return digest


def _reason(record: RolloutRecord, m: Member, s: Resolved) -> str:
    if record.phase == "progressing":
        if m.desired_version == record.target:
            return "retry"
        return "canary" if record.step == 0 and s.canary else "batch"
    return "rollback" if record.phase in ("halted", "rolled-back") else "join"


def _awaiting(record: RolloutRecord, statuses: dict[str, MemberStatus], s: Resolved, now: float) -> str:
    """What a rollout in progress waits for, in words, for the Reconciling message."""
    pending = [(i, st.reason) for i, st in statuses.items() if st.state == "pending"]
    if pending:
        shown = "; ".join(f"{i}: {why}" for i, why in pending[:3])
        return f"{len(pending)} in flight ({shown}{'; …' if len(pending) > 3 else ''})"
    if record.phase == "progressing" and record.step_done_at is not None:
        return f"step {record.step + 1} in {max(0.0, record.step_done_at + s.pause_seconds - now):.0f}s"
    waiting = [st for st in statuses.values() if st.state == "waiting"]
    blocked = [f"{n} {what}" for n, what in ((sum(st.offline for st in waiting), "offline"),
                                              (sum(st.unhealthy for st in waiting), "unhealthy")) if n]
    if blocked:
        return f"{' and '.join(blocked)} member(s) to be online and healthy"
    return f"{len(waiting)} member(s) to be sent {record.target}" if waiting else ""
