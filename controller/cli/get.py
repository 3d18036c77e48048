"""`origami get KIND [NAME]`: one table per kind (plural, singular or short: `get fleets`, `get fl x`),
from the state store; "No resources found." when there is none, exit 1 when NAME is not there."""
from __future__ import annotations

from controller.cli.kinds import kind_of
from controller.cli.output import add_output_flag
from controller.cli.output import add_state_flag
from controller.cli.output import age
from controller.cli.output import clip
from controller.cli.output import emit
from controller.cli.output import table
from controller.reconciler.conditions import summary
from controller.state import open_store
from specs.errors import NotFoundError
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("get", help="list datasets, models, fleets, devices or boards (or one by name)")
    p.add_argument("kind", help="datasets|models|fleets|devices|boards (singular and short forms too: ds, mo, fl, "
                                "dev, bo); boards: the built-in catalogue with each board's budget")
    p.add_argument("name", nargs="?", default=None, help="only this one")
    add_state_flag(p)
    add_output_flag(p)
    p.set_defaults(func=run)


def _devices(store, name: str | None):
    from controller.web.views import device_rows

    devices = [d for d in device_rows(store) if name is None or d.id == name]
    rows = [[d.id, d.board or "-", d.fleet or "-", d.reported or "-", d.desired or "-", d.sync,
             "yes" if d.online else "no", {True: "ok", False: "failed", None: "?"}[d.healthy], age(d.lastSeen),
             d.reason or "-"] for d in devices]
    return [d.model_dump(mode="json") for d in devices], lambda: table(
        ["DEVICE", "BOARD", "FLEET", "REPORTED", "DESIRED", "SYNC", "ONLINE", "HEALTH", "SEEN", "WHY"], rows)


def _objects(store, kind, name: str | None):
    objs = [o for o in store.objects(kind) if name is None or o.name == name]
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
            for_tflm = sum(bool(v.passed) and "tflm" not in v.ineligible for v in variants.values())
            rows.append([o.name, summary(o), (o.desired_key or "-")[:12], f"{passed}/{len(variants)}",
                         f"{for_tflm}/{len(variants)}", clip(o.last_error or "", 50), age(o.updated_at)])
        return data, lambda: table(["MODEL", "STATUS", "KEY", "GATES PASSED", "FOR TFLM", "LAST ERROR", "AGE"], rows)
    rows = [[o.name, summary(o), (o.desired_key or "-")[:12], (o.dataset.snapshot or "-")[:12],
             age(o.updated_at)] for o in objs]
    return data, lambda: table(["DATASET", "STATUS", "KEY", "SNAPSHOT", "AGE"], rows)


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
    store = open_store(args.state_dir, read_only=True)
    data, text = _devices(store, args.name) if kind == "Device" else _objects(store, kind, args.name)
    if args.name is not None and not data:
        raise NotFoundError(f"{kind.lower()} '{args.name}' not found; see `origami get {kind.lower()}s`")
    emit(data, args.output, text if data else lambda: "No resources found.")
    return 0
