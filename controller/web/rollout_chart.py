"""A fleet's rollout over time, read back from its event trail: members updated after each step
(StepComplete, RolloutComplete), installs sent (InstallsSent) and halts, since the latest attempt
started (RolloutStarted, RolloutRetried). The figures are those `controller.reconciler.rollout` and
`.fleets` write into the messages; a message in another shape is skipped, never guessed at."""
from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup

from controller.web.svgplot import Chart
from controller.web.svgplot import Guide
from controller.web.svgplot import Series
from controller.web.svgplot import render
from controller.web.views import EventView

STARTS = ("RolloutStarted", "RolloutRetried")
STEP = re.compile(r": (\d+) updated, \d+ failed$")            # "canary of v2: 1 updated, 0 failed"
COMPLETE = re.compile(r" on (\d+)/\d+ member\(s\)")          # "v2 on 8/8 member(s)"
UPDATED = {"StepComplete": STEP, "RolloutComplete": COMPLETE}
SENT = re.compile(r"^(\d+) install\(s\)")                    # "3 install(s): a, b, c"


@dataclass(frozen=True)
class Moment:
    ts: float
    updated: int
    sent: int
    what: str      # the event's reason, or "now"


def timeline(events: list[EventView], updated_now: int | None, now: float) -> list[Moment]:
    """The latest attempt's moments, oldest first; `updated_now` (the fleet's count) closes it while it runs."""
    starts = [i for i, e in enumerate(events) if e.reason in STARTS]
    if not starts:
        return []
    moments: list[Moment] = []
    updated = sent = 0
    for e in events[starts[-1]:]:
        if e.reason in STARTS:
            moments.append(Moment(e.ts, 0, 0, e.reason))
        elif e.reason == "InstallsSent" and (m := SENT.match(e.message)):
            sent += int(m.group(1))
            moments.append(Moment(e.ts, updated, sent, e.reason))
        elif e.reason in UPDATED and (m := UPDATED[e.reason].search(e.message)):
            updated = int(m.group(1))
            moments.append(Moment(e.ts, updated, sent, e.reason))
        elif e.reason == "RolloutHalted":
            moments.append(Moment(e.ts, updated, sent, e.reason))
    if updated_now is not None and moments[-1].what not in ("RolloutComplete", "RolloutHalted"):
        moments.append(Moment(max(now, moments[-1].ts), updated_now, sent, "now"))
    return moments


def _unit(span: float) -> tuple[float, str]:
    return (1.0, "s") if span < 180 else (60.0, "min") if span < 3 * 3600 else (3600.0, "h")


def rollout_chart(fleet: str, target: str | None, moments: list[Moment], members: int) -> Markup:
    if len(moments) < 2:
        return Markup("")
    start = moments[0].ts
    size, unit = _unit(moments[-1].ts - start)

    def x(m: Moment) -> float:
        return round((m.ts - start) / size, 3)
    series = [Series("installs sent", [(x(m), m.sent) for m in moments], "sent", step=True),
              Series("members updated", [(x(m), m.updated) for m in moments], "updated", step=True)]
    halts = [m for m in moments if m.what == "RolloutHalted"]
    if halts:
        series.append(Series("halted", [(x(m), m.updated) for m in halts], "halt", line=False,
                             labels=["halted"] * len(halts)))
    last = moments[-1]
    description = (f"Rollout of {target or 'the target'} to fleet {fleet} ({members} member(s)): "
                   + "; ".join(f"after {x(m):g} {unit}, {m.updated} updated and {m.sent} install(s) sent"
                               f" ({m.what})" for m in moments)
                   + f". Latest: {last.updated} of {members} updated.")
    return render(Chart(f"Fleet {fleet}: members updated over time", description,
                        f"time since the rollout started ({unit})", "members", series,
                        [Guide("y", members, f"{members} member(s)")], css="chart rollout-chart", origin=True),
                  "rollout-chart")
