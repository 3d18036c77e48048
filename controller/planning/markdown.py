"""A plan as Markdown, ready to post as a pull request comment (`origami plan -o markdown`): a
summary table, then per fleet what changes and how many devices, then every action in a fold.

Pure: the plan and a line saying what it was compared with come in, text goes out. Every name
comes from the spec repository under review (a pull request anyone may open), so cells are escaped:
no table row, link, HTML or mention can be forged from a name.
"""
from __future__ import annotations

import re

from controller.planning.plan import BUILD_KINDS
from controller.planning.plan import KINDS
from controller.planning.plan import Plan
from wire.text import printable

MARKER = "<!-- origami-plan -->"  # lets a CI job find and update its own comment instead of adding one
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~@])")


def cell(text: object) -> str:
    """`text` safe inside a Markdown table cell: control characters made visible, Markdown and HTML
    punctuation escaped (so `|` cannot add a column, `<` cannot open a tag, `@` cannot mention)."""
    return _SPECIAL.sub(r"\\\1", printable(str(text)))


def _boards(by_board: dict[str, int]) -> str:
    return ", ".join(f"{n} {cell(b)}" for b, n in sorted(by_board.items())) or "-"


def render_markdown(plan: Plan, compared_with: str) -> str:
    data = plan.to_dict()
    summary, devices = data["summary"], data["devices"]
    lines = [MARKER, "### Origami plan", "", f"Compared with {compared_with}.", ""]
    if not plan.actions:
        lines.append("**No changes:** the recorded state matches the specs.")
        return "\n".join(lines) + "\n"
    builds = sum(summary[k] for k in BUILD_KINDS)
    lines += [f"**{builds} build stage(s), {summary['bundle']} bundle(s), {devices} device(s) to update.**", "",
              "| Stage | To run |", "| --- | ---: |"]
    lines += [f"| {kind} | {summary[kind]} |" for kind in KINDS if summary[kind]]
    fleets = plan.of_kind("rollout", "strategy", "remove")
    fleets = [a for a in fleets if a.target.startswith("Fleet/")]
    if fleets:
        lines += ["", "#### Fleets", "", "| Fleet | Model | Change | Devices to update | Members | By board |",
                  "| --- | --- | --- | ---: | ---: | --- |"]
        for a in fleets:
            d = a.detail
            change = {"rollout": f"rollout ({a.reason})", "strategy": "rollout settings only",
                      "remove": "removed (devices keep what they run)"}[a.kind]
            lines.append(f"| {cell(a.target.removeprefix('Fleet/'))} | {cell(d.get('model', '-'))} | {change} | "
                         f"{d.get('devices', 0)} | {d.get('members', '-')} | {_boards(d.get('by_board', {}))} |")
    if plan.conflicts:
        lines += ["", "#### Devices claimed by more than one fleet", ""]
        lines += [f"- {cell(f)}: {cell(', '.join(ds))}" for f, ds in sorted(plan.conflicts.items())]
    lines += ["", f"<details><summary>All {len(plan.actions)} action(s)</summary>", "",
              "| Action | Target | Reason |", "| --- | --- | --- |"]
    lines += [f"| {a.kind} | {cell(a.target)} | {a.reason} |" for a in plan.actions]
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
