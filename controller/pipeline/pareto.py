"""Which variants are worth having on each board: the Pareto front of accuracy (or MAE), flash and arena.

A variant is on a board's front when it passed its gates, runs and fits there, and no other such
variant is at least as good on every axis and better on one. Boards are those of the fleets that
deploy the model (every DeviceProfile of the repository when a fleet names no boards), with the budget
rule selection uses (`specs.v1alpha1.budget`). A microcontroller runs int8 TFLM variants (LUT-compressed
ones included) and counts flash and arena; a Linux board runs LiteRT (never a DECODE model) and counts
the file only. Pure functions of recorded figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from controller.loading import SpecRepository
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.budget import misfit
from specs.v1alpha1.device_profile import DeviceProfileSpec


@dataclass(frozen=True)
class Point:
    name: str
    score: float     # higher is better: accuracy, or minus the MAE
    flash: int
    arena: int       # 0 where the board does not count it


def dominates(a: Point, b: Point) -> bool:
    at_least = a.score >= b.score and a.flash <= b.flash and a.arena <= b.arena
    return at_least and (a.score > b.score or a.flash < b.flash or a.arena < b.arena)


def front(points: list[Point]) -> list[str]:
    """The names of the points no other point dominates, in the given order."""
    return [p.name for p in points if not any(dominates(q, p) for q in points if q is not p)]


def model_boards(repo: SpecRepository, model: str) -> dict[str, DeviceProfileSpec]:
    """Board name -> profile, for the boards the model's fleets can reach (sorted by name)."""
    named: set[str] = set()
    for fleet in repo.fleets.values():
        if fleet.spec.model == model:
            named |= set(fleet.spec.selector.boards or repo.profiles)
    return {b: repo.profiles[b].spec for b in sorted(named) if b in repo.profiles}


def _why_not(v: dict, family: str) -> str:
    """Why the board cannot run variant `v` at all ('' when it can)."""
    if family == "mcu":
        if v["quantization"] != "int8" or not v.get("tflm"):
            return "not an int8 variant TFLM runs"
        return ""
    return "LUT-compressed: LiteRT cannot run DECODE" if v.get("compression") else ""


def board_view(board: str, profile: DeviceProfileSpec, reserve: int, task: str, variants: list[dict]) -> dict:
    """One board's view: its budget, the front, and why each other variant is off it.

    `variants`: dicts with name, quantization, size_bytes, arena_bytes, tflm and litert metrics,
    compression and gate (as `VariantResult.to_dict()` has them).
    """
    family = profile.family
    budget = board_budget(profile, reserve if family == "mcu" else 0)
    key = "accuracy" if task == "classification" else "mae"
    points, off = [], {}
    for v in variants:
        why = _why_not(v, family) or ("" if v["gate"]["passed"] else "failed its gates")
        arena = (v["arena_bytes"] or 0) if family == "mcu" else 0
        why = why or misfit(budget, size=v["size_bytes"], arena=arena, what="it")
        if why:
            off[v["name"]] = why
            continue
        metrics = (v["tflm"] if family == "mcu" else v["litert"])[key]
        points.append(Point(v["name"], metrics if key == "accuracy" else -metrics, v["size_bytes"], arena))
    on = front(points)
    for p in points:
        if p.name not in on:
            better = next(q.name for q in points if dominates(q, p))
            off[p.name] = f"dominated by {better}"
    return {"board": board, "family": family, "ram_budget": budget.ram, "flash_budget": budget.flash,
            "front": on, "off": off}


def pareto_markdown(views: list[dict], variant: str) -> list[str]:
    """The model card's section: per board, the front and where this variant stands."""
    if not views:
        return []
    lines = ["", "## Pareto view per board", "",
             "Accuracy (MAE) against flash and, on microcontrollers, the TFLM arena: the variants that passed "
             "their gates and fit the board, with none better on every axis.", "",
             "| board | budget (RAM / flash) | on the front | this variant |", "| --- | --- | --- | --- |"]
    for view in views:
        mine = "on the front" if variant in view["front"] else view["off"].get(variant, "")
        ram = f"{view['ram_budget']} B" if view["family"] == "mcu" else "-"
        lines.append(f"| {view['board']} | {ram} / {view['flash_budget']} B | {', '.join(view['front']) or 'none'} "
                     f"| {mine} |")
    return lines
