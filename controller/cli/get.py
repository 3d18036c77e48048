"""`origami get datasets|models|fleets|devices`: one table per kind, from the state store."""
from __future__ import annotations

from controller.cli.output import add_output_flag
from controller.cli.output import add_state_flag
from controller.cli.output import age
from controller.cli.output import emit
from controller.cli.output import table
from controller.reconciler.conditions import summary
from controller.state import open_store

KINDS = {"datasets": "Dataset", "models": "Model", "fleets": "Fleet", "devices": "Device"}


def register(subparsers) -> None:
    p = subparsers.add_parser("get", help="list datasets, models, fleets or devices")
    p.add_argument("kind", choices=sorted(KINDS))
    add_state_flag(p)
    add_output_flag(p)
    p.set_defaults(func=run)


def _devices(store):
    from controller.web.views import device_rows

    devices = device_rows(store)
    rows = [[d.id, d.board or "-", d.fleet or "-", d.reported or "-", d.desired or "-", d.sync,
             "yes" if d.online else "no", {True: "ok", False: "failed", None: "?"}[d.healthy], age(d.lastSeen),
             d.reason or "-"] for d in devices]
    return [d.model_dump(mode="json") for d in devices], lambda: table(
        ["DEVICE", "BOARD", "FLEET", "REPORTED", "DESIRED", "SYNC", "ONLINE", "HEALTH", "SEEN", "WHY"], rows)


def _objects(store, kind):
    objs = store.objects(kind)
    data = [o.to_dict() | {"status": summary(o)} for o in objs]
    if kind == "Fleet":
        rows = [[o.name, summary(o), o.fleet.target or "-", f"{o.fleet.updated}/{o.fleet.members}",
                 o.fleet.phase or "-", "yes" if o.fleet.paused else "no", age(o.updated_at)] for o in objs]
        return data, lambda: table(["FLEET", "STATUS", "VERSION", "UPDATED", "PHASE", "PAUSED", "AGE"], rows)
    if kind == "Model":
        rows = []
        for o in objs:
            variants = o.model.variants
            passed = sum(bool(v.passed) for v in variants.values())
            rows.append([o.name, summary(o), (o.desired_key or "-")[:12], f"{passed}/{len(variants)}",
                         (o.last_error or "")[:50], age(o.updated_at)])
        return data, lambda: table(["MODEL", "STATUS", "KEY", "GATES PASSED", "LAST ERROR", "AGE"], rows)
    rows = [[o.name, summary(o), (o.desired_key or "-")[:12], (o.dataset.snapshot or "-")[:12],
             age(o.updated_at)] for o in objs]
    return data, lambda: table(["DATASET", "STATUS", "KEY", "SNAPSHOT", "AGE"], rows)


def run(args) -> int:
    store = open_store(args.state_dir, read_only=True)
    kind = KINDS[args.kind]
    data, text = _devices(store) if kind == "Device" else _objects(store, kind)
    emit(data, args.output, text)
    return 0
