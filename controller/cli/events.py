"""`origami events`: the append-only event trail (optionally following it)."""
from __future__ import annotations

import time

from controller.cli.kinds import parse_ref
from controller.cli.output import add_output_flag
from controller.cli.output import add_state_flag
from controller.cli.output import emit
from controller.cli.output import printable
from controller.cli.output import table
from controller.state import open_store
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("events", help="the event trail, oldest first")
    p.add_argument("--for", dest="ref", default=None, help="only events of KIND/NAME")
    p.add_argument("--since", default="0", metavar="SEQ|DURATION",
                   help="only events after this sequence number, or from the last 30s, 10m, 2h, 1d")
    p.add_argument("--limit", type=int, default=50, help="the last N events (default 50; 0 for all)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    add_state_flag(p)
    add_output_flag(p)
    p.set_defaults(func=run)


def _rows(events):
    return [[e.seq, time.strftime("%H:%M:%S", time.localtime(e.ts)), e.type, f"{e.kind}/{e.name}", e.reason,
             e.message] for e in events]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: float) -> tuple[int, float | None]:
    """(sequence number to start after, earliest time or None) from `--since`."""
    value = value.strip()
    if value.isdigit():
        return int(value), None
    number, unit = value[:-1], value[-1:]
    if not number.isdigit() or unit not in _UNITS:
        raise UsageError(f"--since {value!r}: give a sequence number (e.g. 120) or a duration (30s, 10m, 2h, 1d)")
    return 0, now - int(number) * _UNITS[unit]


def run(args) -> int:
    store = open_store(args.state_dir, read_only=True, url=args.state)
    kind, name = parse_ref(args.ref) if args.ref else ("", "")
    since, earliest = parse_since(args.since, time.time())
    events = store.events(since=since, kind=kind or None, name=name or None, limit=args.limit or None,
                          not_before=earliest)
    emit([e.to_dict() for e in events], args.output,
         lambda: table(["SEQ", "TIME", "TYPE", "OBJECT", "REASON", "MESSAGE"], _rows(events)))
    last = events[-1].seq if events else since
    while args.follow:
        time.sleep(1)
        new = store.events(since=last, kind=kind or None, name=name or None)
        for row in _rows(new):
            print("  ".join(printable(c) for c in row), flush=True)
        last = new[-1].seq if new else last
    return 0
