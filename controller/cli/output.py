"""Rendering command results as text tables, JSON or YAML (`--output`).

Text is for a terminal, and much of it comes from devices and specs: every cell of `table()` and
every field the text views (describe, events --follow) print goes through `printable()`
(`wire.text`), so a control character shows as `\\x1b` instead of driving the terminal. JSON and
YAML escape them by their own rules.
"""
from __future__ import annotations

import json
import time

import yaml

from wire.text import printable

FORMATS = ("text", "json", "yaml")


def add_output_flag(parser) -> None:
    parser.add_argument("--output", "-o", choices=FORMATS, default="text")


def add_state_flag(parser) -> None:
    parser.add_argument("--state-dir", default=None, help="directory of the state store (default: working directory)")


def emit(data, fmt: str, table) -> None:
    """Print `data` as JSON/YAML, or call `table()` for the text form."""
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
    elif fmt == "yaml":
        print(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False), end="")
    else:
        print(table())


def table(headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [["" if c is None else printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def age(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    s = max(0, int((now or time.time()) - ts))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit}"
    return f"{s}s"
