"""From an event of the trail to what each kind of sink is sent (pure).

Statuses per GitHub context: `origami/specs` says whether a commit validates (success: applying it;
failure: invalid, the last good commit stays), `origami/fleet/NAME` follows that fleet's rollout of
the commit (pending, success when complete, failure when halted or a bundle failed).
"""
from __future__ import annotations

from dataclasses import dataclass

from controller.state.records import Event

STATUS = {"CommitObserved": "success", "CommitInvalid": "failure", "RolloutStarted": "pending",
          "RolloutComplete": "success", "RolloutHalted": "failure", "BundleFailed": "failure"}
MAX_DESCRIPTION = 140  # GitHub truncates a status description there


@dataclass(frozen=True)
class Notification:
    reason: str
    status: str  # success | failure | pending
    context: str  # origami/specs, origami/fleet/NAME
    commit: str | None
    summary: str
    event: dict


def notification_for(event: Event) -> Notification | None:
    status = STATUS.get(event.reason)
    if status is None:
        return None
    context = "origami/specs" if event.kind == "Source" else f"origami/{event.kind.lower()}/{event.name}"
    commit = f" (commit {event.commit[:12]})" if event.commit else ""
    return Notification(event.reason, status, context, event.commit,
                        f"{event.kind}/{event.name} {event.reason}: {event.message}{commit}", event.to_dict())


def webhook_payload(n: Notification) -> dict:
    return {"status": n.status, "context": n.context, "commit": n.commit, "summary": n.summary, "event": n.event}


def slack_payload(n: Notification) -> dict:
    mark = {"success": ":white_check_mark:", "failure": ":x:", "pending": ":hourglass_flowing_sand:"}[n.status]
    return {"text": f"{mark} Origami: {n.summary}"}


def github_status(n: Notification) -> dict:
    """POST /repos/{owner}/{repo}/statuses/{sha}'s body."""
    description = n.summary if len(n.summary) <= MAX_DESCRIPTION else n.summary[:MAX_DESCRIPTION - 1] + "…"
    return {"state": n.status, "context": n.context, "description": description}
