"""Conditions (Ready, Reconciling, Stalled) by kstatus rules, and setting them on an object with
transition times kept (pure).

kstatus: Ready is True only when the desired state is reached; Reconciling is True only while the
controller is acting or waiting for something it started; Stalled is True only when it cannot get
further by itself. At most one of them is True.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from typing import NamedTuple

from controller.state.records import Condition
from controller.state.records import ObjectStatus
from specs.v1alpha1.status import MemberCounts


class Cond(NamedTuple):
    status: bool
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Conditions:
    ready: Cond
    reconciling: Cond
    stalled: Cond

    @property
    def consistent(self) -> bool:
        """At most one of Ready, Reconciling and Stalled is True."""
        return sum((self.ready.status, self.reconciling.status, self.stalled.status)) <= 1

    @classmethod
    def ready_(cls, reason: str, message: str) -> Conditions:
        return cls(Cond(True, reason, message), Cond(False, "Idle", message), Cond(False, "Healthy", ""))

    @classmethod
    def reconciling_(cls, reason: str, message: str) -> Conditions:
        return cls(Cond(False, reason, message), Cond(True, reason, message), Cond(False, "Healthy", ""))

    @classmethod
    def stalled_(cls, reason: str, message: str) -> Conditions:
        return cls(Cond(False, reason, message), Cond(False, reason, ""), Cond(True, reason, message))

    @classmethod
    def idle(cls, reason: str, message: str) -> Conditions:
        """Not there and not acting: paused by an operator, or nothing to act on."""
        return cls(Cond(False, reason, message), Cond(False, reason, message), Cond(False, "Healthy", ""))


def with_conditions(status: ObjectStatus, now: float, *, ready: tuple[bool, str, str],
                    reconciling: tuple[bool, str, str] = (False, "Idle", ""),
                    stalled: tuple[bool, str, str] = (False, "Healthy", "")) -> ObjectStatus:
    """Each tuple is (status, reason, message); `since` changes only when the status flips."""
    conditions = dict(status.conditions)
    for ctype, (value, reason, message) in (("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled)):
        old = conditions.get(ctype)
        since = old.since if old and old.status == value else now
        conditions[ctype] = Condition(ctype, value, reason, message, since)
    return replace(status, conditions=conditions)


def apply(status: ObjectStatus, now: float, c: Conditions) -> ObjectStatus:
    return with_conditions(status, now, ready=c.ready, reconciling=c.reconciling, stalled=c.stalled)


def counts(p: MemberCounts, target: str) -> str:
    """"7/10 on v2, 1 updating, 2 waiting (2 offline)": what a condition message starts with."""
    text = f"{p.updated}/{p.members} on {target}"
    text += "".join(f", {n} {what}" for n, what in ((p.pending, "updating"), (p.failed, "failed"),
                                                    (p.waiting, "waiting")) if n)
    why = [f"{n} {what}" for n, what in ((p.offline, "offline"), (p.unhealthy, "unhealthy"),
                                          (p.unsupported, "without an artifact")) if n]
    return text + (f" ({', '.join(why)})" if why else "")


def fleet_conditions(*, phase: str, target: str | None, held: str | None, progress: MemberCounts, required: int,
                     paused: bool, awaiting: str, building: bool) -> Conditions:
    """A fleet's conditions from its rollout phase and its members' progress.

    `held`: the version a halt or an undo keeps out; `required`: updated members for Ready (the
    Fleet's `completion`); `awaiting`: what a rollout in progress waits for, in words; `building`:
    the desired version has no artifacts yet.
    """
    p = progress
    retry = "`origami rollout retry` or commit a new version"
    if phase == "halted":
        on = f"; {counts(p, target)}" if target else "; no earlier good version to roll back to"
        return Conditions.stalled_("RolloutHalted", f"{held} halted after failures{on}; {retry}")
    if target is None:
        if building:
            return Conditions.reconciling_("AwaitingArtifacts", "waiting for the desired version's artifacts")
        return Conditions.idle("NoVersion", "no version to roll out")
    if p.members == 0:
        return Conditions.idle("NoMembers", "no device matches the selector")
    text = counts(p, target)
    if building:  # the desired version is not rolled out while it builds: not there yet
        return Conditions.reconciling_("AwaitingArtifacts", f"waiting for the desired version's artifacts; {text}")
    if phase in ("complete", "rolled-back"):
        if p.updated >= required:
            if phase == "rolled-back":
                return Conditions.ready_("RolledBack", f"{text}; {held} undone: `origami rollout retry` to try again")
            return Conditions.ready_("Converged", text)
        if p.members - p.failed - p.unsupported < required:
            fixes = ([f"{p.failed} failed {target} (`origami rollout retry`)"] if p.failed else []) + (
                [f"{p.unsupported} have no artifact for their board"] if p.unsupported else [])
            return Conditions.stalled_("MembersFailed" if p.failed else "NoArtifact", f"{text}; {'; '.join(fixes)}")
    if paused and p.pending == 0:
        return Conditions.idle("Paused", f"{text}; paused: `origami rollout resume` to continue")
    reason = {"progressing": "RollingOut", "rolled-back": "RollingBack"}.get(phase, "Converging")
    return Conditions.reconciling_(reason, f"{text}; awaiting {awaiting}" if awaiting else text)


def summary(status: ObjectStatus) -> str:
    """One word for tables: Ready, Reconciling, Stalled or Unknown."""
    for ctype in ("Stalled", "Reconciling", "Ready"):
        if status.is_true(ctype):
            return ctype
    return "NotReady" if status.conditions else "Unknown"
