"""`origami status`: every object's conditions, the source commit and fleet progress at a glance."""
from __future__ import annotations

from controller.cli.output import add_output_flag
from controller.cli.output import add_state_flag
from controller.cli.output import age
from controller.cli.output import clip
from controller.cli.output import emit
from controller.cli.output import table
from controller.reconciler.conditions import summary
from controller.state import open_store


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="conditions of every object and fleet progress")
    add_state_flag(p)
    add_output_flag(p)
    p.set_defaults(func=run)


def status_data(store) -> dict:
    observed, good = store.source_state()
    return {"source": {"observed": observed, "lastGood": good},
            "objects": [o.to_dict() | {"status": summary(o)} for o in store.objects()],
            "devices": len(store.devices())}


def status_table(store) -> str:
    observed, good = store.source_state()
    lines = [f"commit: observed {(observed or '-')[:12]}, applied {(good or '-')[:12]}"
             + ("" if observed == good else "  (the observed commit is invalid: see `origami describe Source/specs`)")]
    rows = []
    for o in store.objects():
        if o.kind == "Source":
            continue
        ready = o.conditions.get("Ready")
        progress = ""
        if o.kind == "Fleet":
            progress = f"{o.fleet.updated}/{o.fleet.members} {o.fleet.phase or ''}"
        rows.append([f"{o.kind}/{o.name}", summary(o), progress, (o.observed_commit or "-")[:12],
                     clip(ready.message if ready else "", 60), age(o.updated_at)])
    lines.append(table(["OBJECT", "STATUS", "PROGRESS", "COMMIT", "MESSAGE", "AGE"], rows))
    devices = store.devices()
    online = sum(d.online for d in devices)
    lines.append(f"devices: {len(devices)} known, {online} online")
    return "\n".join(lines)


def run(args) -> int:
    store = open_store(args.state_dir, read_only=True, url=args.state)
    emit(status_data(store), args.output, lambda: status_table(store))
    return 0
