"""Operator actions, recorded in the event trail with who did them.

Rollouts (pause, resume, undo, retry): the same effects as `origami rollout ACTION`, the state
store's operator fields, which the loop reads on its next pass; the flag and its event land in one
transaction. Labels: the same as `origami samples label` (controller.collect.labels, versioned in
the sample index), then a `Labelled` event (the index has its own connection, so the two are two
transactions: a crash between them leaves the label change without its event, never the reverse).
"""
from __future__ import annotations

from controller.collect.index import SampleIndex
from controller.collect.labels import label_one
from controller.collect.labels import label_range
from controller.collect.labels import label_session
from controller.state import StateStore
from controller.tenancy.roles import Principal
from controller.web.views import ActionResult
from controller.web.views import LabelRequest
from controller.web.views import LabelResult
from specs.errors import UsageError
from wire.logs import get_logger

log = get_logger("web.actions")
ROLLOUT_ACTIONS = {"pause": "Paused", "resume": "Resumed", "undo": "UndoRequested", "retry": "RetryRequested"}


def signature(operator: Principal | str, channel: str) -> str:
    """How the trail names who acted: role, name, channel and (beyond `default`) tenant; a bare name
    (the local CLI, which acts with the state directory's own rights) as an operator."""
    return operator.signature(channel) if isinstance(operator, Principal) else f"operator {operator} ({channel})"


def _name(operator: Principal | str) -> str:
    return operator.name if isinstance(operator, Principal) else operator


def rollout_action(store: StateStore, fleet: str, action: str, operator: Principal | str,
                   channel: str) -> ActionResult:
    """Apply one rollout action for `operator` (`channel`: "api", "dashboard" or "cli"); UsageError
    when the fleet has no rollout yet or the action is unknown."""
    if action not in ROLLOUT_ACTIONS:
        raise UsageError(f"unknown rollout action {action!r}; one of {', '.join(ROLLOUT_ACTIONS)}")
    message = f"{signature(operator, channel)}: rollout {action}"
    with store.transaction():
        if action == "undo":
            ok = store.request_undo(fleet)
        elif action == "retry":
            ok = store.request_retry(fleet)
        else:
            ok = store.set_paused(fleet, action == "pause")
        if not ok:
            raise UsageError(f"fleet '{fleet}' has no rollout yet; see `origami get fleets`")
        seq = store.emit("Fleet", fleet, ROLLOUT_ACTIONS[action], message)
    log.info("operator action", extra={"fleet": fleet, "action": action, "operator": _name(operator),
                                       "channel": channel, "tenant": store.tenant})
    return ActionResult(fleet=fleet, action=action, by=_name(operator), event=seq,
                        message=f"{action} recorded; the controller applies it on its next pass")


def label_action(store: StateStore, index: SampleIndex, request: LabelRequest, operator: Principal | str,
                 channel: str) -> LabelResult:
    """Label (or unlabel) samples by session, time range or id for `operator`; UsageError when
    nothing matches (or the named dataset is unknown)."""
    if request.dataset is not None and store.object("Dataset", request.dataset) is None:
        raise UsageError(f"no Dataset/{request.dataset} in the state store; see `origami get datasets`")
    label = request.label
    if request.session is not None:
        how, what = "session", f"session {request.session}"
        changed = label_session(index, request.session, label, device=request.device)
    elif request.ids is not None:
        shown = ", ".join(map(str, request.ids[:20])) + (" ..." if len(request.ids) > 20 else "")
        how, what = "one", f"sample(s) {shown}"
        changed = label_one(index, list(request.ids), label)
    else:
        how, what = "range", f"windows from {request.since} to {request.until}"
        changed = label_range(index, request.since, request.until, label, device=request.device,
                              sensor=request.sensor)
    if request.device is not None:
        what += f" of {request.device}"
    verb = "unlabel" if label is None else f"label {label!r} on"
    message = f"{signature(operator, channel)}: {verb} {what} ({changed} changed)"
    kind, name = ("Dataset", request.dataset) if request.dataset else ("Samples", "collected")
    seq = store.emit(kind, name, "Labelled", message)
    log.info("operator action", extra={"action": "label", "how": how, "label": label, "changed": changed,
                                       "operator": _name(operator), "channel": channel, "tenant": store.tenant})
    return LabelResult(changed=changed, label=label, how=how, by=_name(operator), event=seq,
                       labelRevision=index.label_revision(), message=message)
