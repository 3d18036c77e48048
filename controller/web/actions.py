"""Operator actions (pause, resume, undo a rollout), recorded in the event trail with who did them.

The same effects as `origami rollout pause|resume|undo`: the state store's operator fields, which
the loop reads on its next pass. The flag and its event land in one transaction.
"""
from __future__ import annotations

from controller.errors import UsageError
from controller.logs import get_logger
from controller.state import StateStore
from controller.web.views import ActionResult

log = get_logger("web.actions")
ROLLOUT_ACTIONS = {"pause": "Paused", "resume": "Resumed", "undo": "UndoRequested"}


def rollout_action(store: StateStore, fleet: str, action: str, operator: str, channel: str) -> ActionResult:
    """Apply one rollout action for `operator` (`channel`: "api" or "dashboard"); UsageError when the
    fleet has no rollout yet or the action is unknown."""
    if action not in ROLLOUT_ACTIONS:
        raise UsageError(f"unknown rollout action {action!r}; one of {', '.join(ROLLOUT_ACTIONS)}")
    message = f"operator {operator} ({channel}): rollout {action}"
    with store.transaction():
        ok = store.request_undo(fleet) if action == "undo" else store.set_paused(fleet, action == "pause")
        if not ok:
            raise UsageError(f"fleet '{fleet}' has no rollout yet; see `origami get fleets`")
        seq = store.emit("Fleet", fleet, ROLLOUT_ACTIONS[action], message)
    log.info("operator action", extra={"fleet": fleet, "action": action, "operator": operator, "channel": channel})
    return ActionResult(fleet=fleet, action=action, by=operator, event=seq,
                        message=f"{action} recorded; the controller applies it on its next pass")
