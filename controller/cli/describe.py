"""`origami describe KIND/NAME`: one object's conditions, details and recent events."""
from __future__ import annotations

import json

from controller.cli.kinds import parse_ref
from controller.cli.output import add_output_flag
from controller.cli.output import age
from controller.cli.output import emit
from controller.cli.output import printable
from controller.cli.remote_state import add_reader_flags
from controller.cli.remote_state import open_reader
from controller.reconciler.conditions import summary
from specs.errors import NotFoundError


def register(subparsers) -> None:
    p = subparsers.add_parser("describe", help="show one object in detail: KIND/NAME (e.g. fleet/digits-mcu)")
    p.add_argument("ref")
    add_reader_flags(p)
    add_output_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    kind, name = parse_ref(args.ref)
    if kind == "Board":
        from controller.cli.boards import board_records

        records = board_records([name])
        if not records:
            raise NotFoundError(f"no built-in board '{name}'; see `origami get boards`")
        emit(records[0], args.output, lambda: json.dumps(records[0], indent=2))
        return 0
    store = open_reader(args)
    if kind == "Device":
        device = store.device(name)
        if device is None:
            raise NotFoundError(f"no device '{name}' has said hello; see `origami get devices`")
        data = vars(device) | {"desired": vars(d) if (d := store.desired().get(name)) else None,
                               "installs": [vars(i) for i in store.installs(name)]}
        emit(data, args.output, lambda: _device_text(store, device))
        return 0
    obj = store.object(kind, name)
    if obj is None:
        raise NotFoundError(f"no {kind}/{name} in the state store; see `origami status`")
    events = store.events(kind=kind, name=name, limit=15)
    data = obj.to_dict() | {"status": summary(obj), "events": [e.to_dict() for e in events]}
    if kind == "Fleet" and (r := store.rollout(name)):
        data["rollout"] = r.to_dict()

    def text() -> str:
        p = printable  # every field below may come from a device or a spec
        lines = [f"{kind}/{p(name)}: {summary(obj)}", f"  observed commit: {p(obj.observed_commit or '-')}",
                 f"  key:             {p(obj.desired_key or '-')}"]
        if obj.last_error:
            lines.append(f"  last error:      {p(obj.last_error)}")
        lines.append("  conditions:")
        for c in obj.conditions.values():
            lines.append(f"    {p(c.type):<12} {str(c.status):<5} {p(c.reason):<14} {p(c.message)}  ({age(c.since)})")
        lines.append("  detail:")
        lines += ["    " + line for line in json.dumps(obj.detail_json(), indent=2, default=str).splitlines()]
        if kind == "Fleet":
            releases = obj.fleet.releases.get(obj.fleet.version or "", {})
            lines.append("  variant per board:" + ("" if releases else " none built yet"))
            lines += [f"    {p(board)}: {p(a.get('variant', '-'))}: {p(a.get('note', ''))}"
                      for board, a in sorted(releases.items())]
        if "rollout" in data:
            lines.append("  rollout: " + json.dumps(data["rollout"], default=str))
        lines.append("  events:")
        lines += [f"    #{e.seq} {age(e.ts):>4} {e.type:<7} {p(e.reason):<16} {p(e.message)}" for e in events]
        return "\n".join(lines)
    emit(data, args.output, text)
    return 0


def _device_text(store, device) -> str:
    """`describe device/ID` for a person: what it is, where it stands in its fleet and why, what it
    reports, its installs and its own events. Everything here may come from the device: escaped."""
    from controller.web.views import device_rows

    p = printable
    row = next((r for r in device_rows(store) if r.id == device.device_id), None)
    rep, caps = device.reported or {}, (device.hello or {}).get("capabilities") or {}
    last = rep.get("lastUpdate") or {}
    online = f"online since {age(device.online_since)} ago" if device.online and device.online_since else \
        "online" if device.online else "offline"
    lines = [f"Device/{p(device.device_id)}: {p(device.board or 'unknown board')}, {online}, "
             f"last seen {age(device.last_seen)} ago"]
    if row is not None and row.fleet:
        lines.append(f"  fleet:      {p(row.fleet)}, desired {p(row.desired or '-')}: {p(row.sync)}"
                     + (f" ({p(row.reason)})" if row.reason else ""))
    lines += [f"  running:    {p(rep.get('modelVersion') or '-')} ({p((rep.get('modelDigest') or '-')[:12])}), "
              f"slot {p(rep.get('activeSlot') or '-')}, generation {p(rep.get('observedGeneration', '-'))}",
              f"  health:     {p(rep.get('health', 'unknown'))}"
              + (f": {p(rep.get('healthReason'))}" if rep.get("healthReason") else "")]
    if last:
        lines.append(f"  last update: {p(last.get('outcome', '-'))} {p(last.get('version', '-'))}"
                     + (f": {p(last.get('reason'))}" if last.get("reason") else ""))
    if caps:
        lines.append(f"  hardware:   {p(caps.get('family', '-'))}, {p(caps.get('arch') or '-')}, "
                     f"RAM {caps.get('ramBytes', 0)} B, flash {caps.get('flashBytes', 0)} B, runtimes "
                     + p(", ".join(caps.get("runtimes") or []) or "-"))
    if device.labels:
        lines.append("  labels:     " + p(", ".join(f"{k}={v}" for k, v in sorted(device.labels.items()))))
    installs = store.installs(device.device_id)[-5:]
    lines.append("  installs:" + ("" if installs else " none"))
    lines += [f"    {p(i.install_id):<24} {p(i.version):<28} {p(i.reason):<10} {age(i.recorded_at)} ago"
              for i in installs]
    events = store.events(kind="Device", name=device.device_id, limit=10)
    lines.append("  events:" + ("" if events else " none"))
    lines += [f"    #{e.seq} {age(e.ts):>4} {e.type:<7} {p(e.reason):<16} {p(e.message)}" for e in events]
    return "\n".join(lines)
