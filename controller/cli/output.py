"""Rendering command results (`--output`, as kubectl's): a text table, `wide` (more columns), `name`
(KIND/NAME per line), `json`, `yaml` or `jsonpath=TEMPLATE`. Times in JSON, YAML and jsonpath are
RFC 3339 (`2026-12-04T22:21:02Z`), not the epoch seconds the store keeps.

Text is for a terminal, and much of it comes from devices and specs: every cell of `table()` and
every field the text views (describe, events --follow) print goes through `printable()`
(`wire.text`), so a control character shows as `\\x1b` instead of driving the terminal. JSON and
YAML escape them by their own rules.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import yaml

from controller.cli.jsonpath import render as render_jsonpath
from specs.errors import UsageError
from wire.text import printable

FORMATS = ("text", "wide", "name", "json", "yaml", "jsonpath=TEMPLATE")
# Fields that hold a time as epoch seconds in the store and the API (`updated_at`, `lastSeen`, `ts`,
# a condition's `since`, `next_attempt`): RFC 3339 in the CLI's structured output.
TIME_FIELD = re.compile(r"(_at|At|^ts|^since|_since|Since|_seen|Seen|^next_attempt|^nextAttempt)$")


def output_format(value: str) -> str:
    """`--output` as given, checked (argparse type)."""
    if value in FORMATS[:-1] or (value.startswith("jsonpath=") and len(value) > len("jsonpath=")):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: choose from {', '.join(FORMATS)}")


def add_output_flag(parser) -> None:
    parser.add_argument("--output", "-o", type=output_format, default="text", metavar="FORMAT",
                        help="text (default), wide, name, json, yaml or jsonpath=TEMPLATE (e.g. "
                             "'jsonpath={.items[*].name}'); times in json/yaml are RFC 3339")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_rfc3339_times(data: Any, key: str = "") -> Any:
    """`data` with every time field (by name, see TIME_FIELD) as RFC 3339; 0 (never) becomes null."""
    if isinstance(data, dict):
        return {k: with_rfc3339_times(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [with_rfc3339_times(v) for v in data]
    if key and TIME_FIELD.search(key) and isinstance(data, int | float) and not isinstance(data, bool):
        return rfc3339(data) if data > 0 else None
    return data


def add_state_flag(parser) -> None:
    parser.add_argument("--state-dir", default=None, help="directory of the state store (default: working directory)")
    add_state_url_flag(parser)


def add_state_url_flag(parser) -> None:
    parser.add_argument("--state", default=None, metavar="URL",
                        help="keep the state in PostgreSQL instead of the state directory's SQLite file: "
                             "postgresql://user@host:port/db (default: $ORIGAMI_STATE; password from PGPASSWORD "
                             "or ~/.pgpass)")


def emit(data, fmt: str, table: Callable[[], str], *, wide: Callable[[], str] | None = None,
         names: Callable[[], list[str]] | None = None) -> None:
    """Print `data` in `fmt`: JSON/YAML/jsonpath of `data`, `table()` for text, `wide()` (default:
    the table) for wide, `names()` (KIND/NAME lines) for name."""
    if fmt in ("json", "yaml") or fmt.startswith("jsonpath="):
        plain = with_rfc3339_times(json.loads(json.dumps(data, default=str)))
        if fmt == "json":
            print(json.dumps(plain, indent=2))
        elif fmt == "yaml":
            print(yaml.safe_dump(plain, sort_keys=False), end="")
        else:
            print(render_jsonpath(fmt.removeprefix("jsonpath="), plain))
    elif fmt == "name":
        if names is None:
            raise UsageError("-o name lists objects: use it with `origami get`")
        print("\n".join(printable(n) for n in names()))
    else:
        print((wide or table)() if fmt == "wide" else table())


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
