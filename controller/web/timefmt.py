"""One timestamp format for every page: a relative time ("3 min ago") in a `<time>` element whose
`datetime` and `title` carry the absolute RFC 3339 UTC time (as `origami ... -o json` prints it)."""
from __future__ import annotations

from datetime import UTC
from datetime import datetime

from markupsafe import Markup
from markupsafe import escape

UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def relative(ts: float, now: float) -> str:
    """ "12 s ago", "3 min ago", "2 h ago", "5 d ago"; "in 4 min" for a time ahead (a retry)."""
    delta = now - ts
    seconds = abs(delta)
    if seconds < 1:
        return "just now"
    for unit, size in UNITS:
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit} ago" if delta > 0 else f"in {n} {unit}"
    return "just now"  # unreachable: the loop ends at 1 s


def time_tag(ts: float | None, now: float) -> Markup:
    """The `<time>` element of a Unix time; "-" for none (0 or None means never)."""
    if not ts:
        return Markup("-")
    absolute = rfc3339(ts)
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(absolute, escape(relative(ts, now)))
