"""Setting an object's conditions (Ready, Reconciling, Stalled) with transition times kept (pure)."""
from __future__ import annotations

from dataclasses import replace

from controller.state.records import Condition, ObjectStatus


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


def summary(status: ObjectStatus) -> str:
    """One word for tables: Ready, Reconciling, Stalled or Unknown."""
    for ctype in ("Stalled", "Reconciling", "Ready"):
        if status.is_true(ctype):
            return ctype
    return "NotReady" if status.conditions else "Unknown"
