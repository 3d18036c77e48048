"""The built-in board catalogue as `origami get boards` shows it: each board with its budget (what a
model may take of it, `specs/v1alpha1/budget.py`), beside what docs/boards.md lists."""
from __future__ import annotations

from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.model import SplitPolicy

DEFAULT_RESERVE = SplitPolicy().firmwareReserve  # what a Model keeps for the firmware unless it says otherwise
HEADERS = ["BOARD", "NAME", "FAMILY", "CPU", "RUNTIME", "RAM", "FLASH", "MODEL RAM", "MODEL FLASH", "ACCELERATORS"]


def show_size(n: int) -> str:
    """Bytes in the largest binary unit that divides them exactly (budgets are exact figures)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def board_records(names: list[str] | None = None) -> list[dict]:
    """One record per built-in board (in catalogue order): its profile, and its budget with the
    default `split.firmwareReserve`."""
    out = []
    for name, profile in BUILTIN_PROFILES.items():
        if names and name not in names:
            continue
        budget = board_budget(profile.spec, DEFAULT_RESERVE)
        out.append({"name": name, **profile.spec.model_dump(mode="json"),
                    "budget": {"ram": budget.ram, "flash": budget.flash, "reserve": budget.reserve}})
    return out


def board_rows(records: list[dict]) -> list[list[str]]:
    return [[r["name"], r["board"], r["family"], r["cpu"], r["runtime"], show_size(r["ram"]), show_size(r["flash"]),
             show_size(r["budget"]["ram"]), show_size(r["budget"]["flash"]), ", ".join(r["accelerators"]) or "-"]
            for r in records]
