"""What one fleet member proves about a target version (pure).

A member is *updated* only when it reports the digest it was assigned for the target, an observed
generation at least the assigned one, and health "ok". Anything else is drift, with a reason a user
can read in `origami get devices`. Semantics: `docs/rollout.md`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import replace
from typing import Literal

from specs.v1alpha1.status import MemberCounts

UNHEALTHY = ("degraded", "failed")
REASON_CHARS = 120  # of a device's own health reason quoted in a status message
State = Literal["updated", "pending", "failed", "waiting"]


@dataclass(frozen=True)
class Member:
    """One fleet member as the loop sees it: what we assigned it (from the recorded desired state)
    and what it reported. Nothing here is believed unless the member proves it."""

    device_id: str
    board: str | None = None
    online: bool = False  # presence plus a recent message (the loop decides what recent is)
    health: str = "unknown"  # ok | degraded | failed | unknown (no model runs yet)
    health_reason: str = ""
    desired_version: str | None = None  # what we last assigned it in this fleet
    desired_generation: int | None = None
    desired_digest: str | None = None
    assigned_at: float | None = None
    reached_at: float | None = None  # when it first proved that assignment (the loop marks it)
    reported_digest: str | None = None
    reported_generation: int | None = None  # the device's observedGeneration
    failed_versions: frozenset[str] = frozenset()  # install refused, health check failed, timed out
    online_since: float | None = None  # start of the current online period, when the loop knows it
    last_seen: float | None = None
    served_since: float | None = None  # since when this controller (replica) serves the fleet, when it knows


@dataclass(frozen=True)
class MemberStatus:
    """Where a member stands against the target: `updated`, `pending` (in flight: assigned the target
    in this attempt, not proven, not failed), `failed`, or `waiting` (not assigned it in this attempt).
    `reason` says why it is not updated ("" when it is)."""

    device_id: str
    state: State
    reason: str = ""
    offline: bool = False
    unhealthy: bool = False
    unsupported: bool = False  # no artifact of the target for its board
    drifted: bool = False  # proved the assignment once, now reports another digest
    timed_out: bool = False  # failed in this pass: no proof within deviceTimeoutSeconds while online
    can_install: bool = False  # online, has an artifact, did not fail the target
    healthy: bool = False  # health "ok" or "unknown": may be chosen to judge a version

    @property
    def updated(self) -> bool:
        return self.state == "updated"


def count_members(statuses: list[MemberStatus]) -> MemberCounts:
    """The counts a fleet's status records (`specs.v1alpha1.status.MemberCounts`)."""
    p = MemberCounts(members=len(statuses))
    for s in statuses:
        setattr(p, s.state, getattr(p, s.state) + 1)
        if not s.updated:
            p.offline += s.offline
            p.unhealthy += s.unhealthy
            p.unsupported += s.unsupported
    return p


def short(digest: str | None) -> str:
    return f"{digest[:8]}…" if digest else "none"


def _since(ts: float | None) -> str:
    try:  # `last_seen` comes from a device's own clock: any number
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts is not None else "an unknown time"
    except (OverflowError, OSError, ValueError):
        return "an unknown time"


def proves(m: Member, version: str, digest: str) -> bool:
    """The member runs `digest`, assigned for `version`, has seen that assignment and is healthy."""
    return (m.desired_version == version and m.desired_digest == digest and m.reported_digest == digest
            and m.desired_generation is not None and m.reported_generation is not None
            and m.reported_generation >= m.desired_generation and m.health == "ok")


def assess(m: Member, version: str, digest: str | None, *, attempt_start: float | None, now: float,
           timeout: float, forgotten: str | None = None) -> MemberStatus:
    """Classify `m` against the target `version` (whose artifact for its board is `digest`).

    Assignments made before `attempt_start` (a retry, a halt, a new rollout of the same version)
    are not in flight: the member is waiting to be sent the target again. `forgotten` is a version
    whose recorded failures an operator retry clears in this pass.
    """
    failed_before = version in m.failed_versions and version != forgotten
    base = MemberStatus(m.device_id, "waiting", offline=not m.online, unhealthy=m.health in UNHEALTHY,
                        healthy=m.health in ("ok", "unknown"))
    if digest is None:
        return replace(base, state="failed" if failed_before else "waiting", unsupported=True,
                       reason=f"no artifact of {version} for board {m.board or 'unknown'}")
    if proves(m, version, digest):
        return replace(base, state="updated", unhealthy=False)
    if failed_before:
        return replace(base, state="failed", reason=f"failed {version}")
    assigned = m.desired_version == version and m.desired_digest == digest
    fresh = assigned and (attempt_start is None or (m.assigned_at or 0.0) >= attempt_start)
    if not fresh:
        return replace(base, reason=_waiting_reason(m, version, assigned), can_install=m.online)
    pending = replace(base, state="pending", drifted=m.reached_at is not None and m.reported_digest != digest)
    if not m.online:
        return replace(pending, reason=f"offline since {_since(m.last_seen)}")
    if pending.drifted:
        return replace(pending, can_install=True,
                       reason=f"reports digest {short(m.reported_digest)}, desired {short(digest)}")
    if base.unhealthy and (m.reached_at is not None or m.reported_digest != digest):
        # Unhealthy on what it ran before (or after proving the target): not the new version's fault.
        return replace(pending, reason=_health(m))
    # The timeout runs while the member is online and a controller serves it: a replica that took the
    # fleet over does not blame the member for the time the fleet had no live holder.
    clock = max(m.assigned_at or 0.0, m.online_since or 0.0, m.served_since or 0.0)
    if m.reached_at is None and now - clock >= timeout:
        return replace(base, state="failed", timed_out=True,
                       reason=f"no proof of {version} after {timeout:g}s online")
    return replace(pending, reason=_in_flight_reason(m, version, digest))


def _health(m: Member) -> str:
    reason = m.health_reason[:REASON_CHARS] + ("…" if len(m.health_reason) > REASON_CHARS else "")
    return f"health {m.health}" + (f": {reason}" if reason else "")


def _waiting_reason(m: Member, version: str, assigned: bool) -> str:
    if not m.online:
        return f"offline since {_since(m.last_seen)}"
    if m.health in UNHEALTHY:
        return _health(m)
    if assigned:
        return f"to be sent {version} again"
    return f"assigned {m.desired_version}, desired {version}" if m.desired_version else "not assigned yet"


def _in_flight_reason(m: Member, version: str, digest: str) -> str:
    if m.reported_generation is None or m.desired_generation is None or \
            m.reported_generation < m.desired_generation:
        return f"has not seen generation {m.desired_generation} ({version}) yet"
    if m.reported_digest != digest:
        return f"reports digest {short(m.reported_digest)}, desired {short(digest)}"
    return _health(m)
