"""Rendering command results as text tables, JSON or YAML (`--output`).

Text is for a terminal, and much of it comes from devices and specs: every cell of `table()` and
every field the text views (describe, events --follow) print goes through `printable()`
(`wire.text`), so a control character shows as `\\x1b` instead of driving the terminal. JSON and
YAML escape them by their own rules.
"""
from __future__ import annotations

import json
import shutil
import sys
import time

import yaml

from wire.text import printable

FORMATS = ("text", "json", "yaml")


def add_output_flag(parser) -> None:
    parser.add_argument("--output", "-o", choices=FORMATS, default="text")


def add_state_flag(parser) -> None:
    parser.add_argument("--state-dir", default=None, help="directory of the state store (default: working directory)")
    add_state_url_flag(parser)


def add_state_url_flag(parser) -> None:
    parser.add_argument("--state", default=None, metavar="URL",
                        help="keep the state in PostgreSQL instead of the state directory's SQLite file: "
                             "postgresql://user@host:port/db (default: $ORIGAMI_STATE; password from PGPASSWORD "
                             "or ~/.pgpass)")


def emit(data, fmt: str, table) -> None:
    """Print `data` as JSON/YAML, or call `table()` for the text form."""
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
    elif fmt == "yaml":
        print(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False), end="")
    else:
        print(table())


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, with an ellipsis when something was cut."""
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def table(headers: list[str], rows: list[list], *, width: int | None = None) -> str:
    """Aligned columns. On a terminal (or with `width`) the widest columns are cut with an ellipsis
    until a line fits; in a pipe nothing is cut (scripts get every character)."""
    cells = [headers] + [["" if c is None else printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    limit = width if width is not None else (shutil.get_terminal_size().columns if sys.stdout.isatty() else None)
    if limit is not None:
        floor = [max(len(h), 6) for h in headers]
        while sum(widths) + 2 * (len(widths) - 1) > limit:
            widest = max(range(len(widths)), key=lambda i: widths[i] - floor[i])
            if widths[widest] <= floor[widest]:
                break
            widths[widest] -= 1
    return "\n".join("  ".join(clip(c, w).ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def age(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    s = max(0, int((now or time.time()) - ts))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit}"
    return f"{s}s"
