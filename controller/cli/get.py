"""`origami get KIND [NAME]`: one table per kind (plural, singular or short: `get fleets`, `get fl x`),
from the state store; "No resources found." when there is none, exit 1 when NAME is not there.
As kubectl: `-o wide|name|json|yaml|jsonpath=...`, `-l KEY=VALUE` on the labels fleets (their
`metadata.labels`) and devices (their hello) carry, `-w` to keep printing what changes."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from controller.cli.kinds import kind_of
from controller.cli.output import add_output_flag
from controller.cli.output import age
from controller.cli.output import clip
from controller.cli.output import emit
from controller.cli.output import table
from controller.cli.output import with_rfc3339_times
from controller.cli.remote_state import add_reader_flags
from controller.cli.remote_state import open_reader
from controller.cli.selectors import matches
from controller.cli.selectors import parse_selector
from controller.reconciler.conditions import summary
from specs.errors import NotFoundError
from specs.errors import UsageError
from wire.text import printable

LABELLED = ("Fleet", "Device")  # the kinds whose labels the state store keeps
WATCH_SECONDS = 1.0


def register(subparsers) -> None:
    p = subparsers.add_parser("get", help="list datasets, models, fleets, devices or boards (or one by name)")
    p.add_argument("kind", help="datasets|models|fleets|devices|boards (singular and short forms too: ds, mo, fl, "
                                "dev, bo); boards: the built-in catalogue with each board's budget")
    p.add_argument("name", nargs="?", default=None, help="only this one")
    p.add_argument("--selector", "-l", default=None, metavar="SELECTOR",
                   help="only objects whose labels match: key=value, key!=value, key, !key; comma-separated "
                        "(fleets and devices)")
    p.add_argument("--watch", "-w", action="store_true", help="after the list, print each object that changes")
    add_reader_flags(p)
    add_output_flag(p)
    p.set_defaults(func=run)


@dataclass
class Listing:
    """One kind's objects: their JSON, their table rows (and wide rows) and their names, in order."""

    kind: str
    names: list[str]
    data: list[dict[str, Any]]
    headers: list[str]
    rows: list[list[Any]]
    wide_headers: list[str]
    wide_rows: list[list[Any]]

    def text(self) -> str:
        return table(self.headers, self.rows)

    def wide(self) -> str:
        return table(self.wide_headers, self.wide_rows)

    def refs(self) -> list[str]:
        return [f"{self.kind.lower()}/{n}" for n in self.names]


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def _devices(store, name: str | None, selector) -> Listing:
    from controller.web.views import device_rows

    devices = [d for d in device_rows(store) if (name is None or d.id == name) and matches(selector, d.labels)]
    health = {True: "ok", False: "failed", None: "?"}
    rows = [[d.id, d.board or "-", d.fleet or "-", d.reported or "-", d.desired or "-", d.sync,
             "yes" if d.online else "no", health[d.healthy], age(d.lastSeen), d.reason or "-"] for d in devices]
    headers = ["DEVICE", "BOARD", "FLEET", "REPORTED", "DESIRED", "SYNC", "ONLINE", "HEALTH", "SEEN", "WHY"]
    return Listing("Device", [d.id for d in devices], [d.model_dump(mode="json") for d in devices], headers, rows,
                   headers + ["LABELS"], [r + [_labels(d.labels)] for r, d in zip(rows, devices)])


def _objects(store, kind: str, name: str | None, selector) -> Listing:
    objs = [o for o in store.objects(kind) if name is None or o.name == name]
    if selector:
        objs = [o for o in objs if matches(selector, o.fleet.labels)]
    names, data = [o.name for o in objs], [o.to_dict() | {"status": summary(o)} for o in objs]
    if kind == "Fleet":
        rows = [[o.name, summary(o), o.fleet.target or "-", f"{o.fleet.updated}/{o.fleet.members}",
                 o.fleet.phase or "-", "yes" if o.fleet.paused else "no", age(o.updated_at)] for o in objs]
        wide = [r + [o.fleet.pending, o.fleet.failed, ",".join(o.fleet.boards) or "-", _labels(o.fleet.labels)]
                for r, o in zip(rows, objs)]
        headers = ["FLEET", "STATUS", "VERSION", "UPDATED", "PHASE", "PAUSED", "AGE"]
        return Listing(kind, names, data, headers, rows, headers + ["PENDING", "FAILED", "BOARDS", "LABELS"], wide)
    if kind == "Model":
        rows, wide = [], []
        for o in objs:
            variants = o.model.variants
            passed = sum(bool(v.passed) for v in variants.values())
            for_tflm = sum(bool(v.passed) and "tflm" not in v.ineligible for v in variants.values())
            row = [o.name, summary(o), (o.desired_key or "-")[:12], f"{passed}/{len(variants)}",
                   f"{for_tflm}/{len(variants)}"]
            rows.append(row + [clip(o.last_error or "", 50), age(o.updated_at)])
            wide.append(row + [",".join(sorted(variants)) or "-", o.model.dataset or "-", o.last_error or "",
                               age(o.updated_at)])
        headers = ["MODEL", "STATUS", "KEY", "GATES PASSED", "FOR TFLM", "LAST ERROR", "AGE"]
        return Listing(kind, names, data, headers, rows,
                       headers[:5] + ["VARIANTS", "DATASET SNAPSHOT", "LAST ERROR", "AGE"], wide)
    rows = [[o.name, summary(o), (o.desired_key or "-")[:12], (o.dataset.snapshot or "-")[:12],
             age(o.updated_at)] for o in objs]
    wide = [r[:4] + [",".join(o.dataset.models) or "-", r[4]] for r, o in zip(rows, objs)]
    headers = ["DATASET", "STATUS", "KEY", "SNAPSHOT", "AGE"]
    return Listing(kind, names, data, headers, rows, headers[:4] + ["MODELS", "AGE"], wide)


def listing(store, kind: str, name: str | None, selector) -> Listing:
    return _devices(store, name, selector) if kind == "Device" else _objects(store, kind, name, selector)


def _changed_lines(before: Listing, after: Listing, fmt: str) -> list[str]:
    """What `-w` prints for a new poll: each new or changed object (a row, a name or one JSON line)."""
    old = dict(zip(before.names, before.data))
    lines = []
    for i, (name, item) in enumerate(zip(after.names, after.data)):
        if old.get(name) == item:
            continue
        if fmt == "name":
            lines.append(printable(after.refs()[i]))
        elif fmt in ("text", "wide"):
            cells = (after.wide_rows if fmt == "wide" else after.rows)[i]
            lines.append("  ".join(printable(c) for c in cells))
        else:  # json, yaml, jsonpath: one JSON object per line, as a stream tool expects
            lines.append(json.dumps(with_rfc3339_times(json.loads(json.dumps(item, default=str)))))
    return lines


def run(args) -> int:
    kind = kind_of(args.kind)
    if kind == "Source":
        raise UsageError("the spec source has one object: `origami describe source/specs`")
    if kind == "Board":  # the built-in catalogue: no state store needed
        from controller.cli.boards import HEADERS
        from controller.cli.boards import board_records
        from controller.cli.boards import board_rows

        records = board_records([args.name] if args.name else None)
        if args.name is not None and not records:
            raise NotFoundError(f"no built-in board '{args.name}'; see `origami get boards`")
        emit(records, args.output, lambda: table(HEADERS, board_rows(records)))
        return 0
    selector = parse_selector(args.selector) if args.selector else None
    if selector and kind not in LABELLED:
        raise UsageError(f"-l selects on labels, which the state store keeps for fleets and devices, not {kind}s")
    store = open_reader(args)
    shown = listing(store, kind, args.name, selector)
    if args.name is not None and not shown.data and not args.watch:
        raise NotFoundError(f"{kind.lower()} '{args.name}' not found; see `origami get {kind.lower()}s`")
    if shown.data or args.output != "text":
        emit(shown.data, args.output, shown.text, wide=shown.wide, names=shown.refs)
    else:
        print("No resources found.")
    sys.stdout.flush()
    while args.watch:
        time.sleep(WATCH_SECONDS)
        now = listing(store, kind, args.name, selector)
        for line in _changed_lines(shown, now, args.output):
            print(line, flush=True)
        shown = now
    return 0
