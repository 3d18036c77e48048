"""`origami samples ls|label|export`: collected sensor windows, their labels, and files of them."""
from __future__ import annotations

import time
from pathlib import Path

from controller.cli.controller_api import client_from_args
from controller.cli.output import add_output_flag
from controller.cli.output import add_state_flag
from controller.cli.output import emit
from controller.cli.output import table
from controller.cli.remote_state import add_reader_flags
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("samples", help="collected sensor windows: list, label, export")
    sub = p.add_subparsers(dest="samples_command", metavar="ACTION", required=True)

    ls = sub.add_parser("ls", help="list samples (or --counts per device and label, or --rejected messages)")
    _add_filters(ls)
    ls.add_argument("--limit", type=int, default=50, help="at most N samples, newest last (default 50; 0: all)")
    ls.add_argument("--counts", action="store_true", help="counts per label and per device instead of samples")
    ls.add_argument("--rejected", action="store_true", help="messages the collector rejected, with the reason")
    add_reader_flags(ls)
    add_output_flag(ls)
    ls.set_defaults(func=run_ls)

    label = sub.add_parser("label", help="label samples by --session, by --since/--until, or by --id")
    label.add_argument("label", nargs="?", help="the label to set")
    label.add_argument("--unlabel", action="store_true", help="remove the label instead")
    label.add_argument("--session", help="every window of this session")
    label.add_argument("--since", type=float, help="windows starting at or after this Unix time")
    label.add_argument("--until", type=float, help="windows starting before this Unix time")
    label.add_argument("--id", dest="ids", type=int, action="append", help="one sample by id (repeatable)")
    label.add_argument("--device", help="only this device's windows")
    label.add_argument("--sensor", help="only this sensor's windows (time ranges)")
    add_reader_flags(label)
    label.set_defaults(func=run_label)

    export = sub.add_parser("export", help="write selected samples to an NPZ or CSV file")
    _add_filters(export)
    export.add_argument("--out", required=True, type=Path, help="file to write (.npz or .csv)")
    export.add_argument("--format", choices=("npz", "csv"), help="default: from the file's suffix")
    export.add_argument("--artifacts", type=Path, help="artifact store (default: STATE_DIR/.origami/artifacts)")
    add_state_flag(export)
    export.set_defaults(func=run_export)


def _add_filters(p) -> None:
    p.add_argument("--device", help="only this device")
    p.add_argument("--sensor", help="only this sensor")
    p.add_argument("--session", help="only this session")
    p.add_argument("--fleet", help="only samples collected for this fleet")
    p.add_argument("--label", dest="labels", action="append", help="only this label (repeatable)")
    p.add_argument("--unlabelled", action="store_true", help="only samples without a label")
    p.add_argument("--since", type=float, help="windows starting at or after this Unix time")
    p.add_argument("--until", type=float, help="windows starting before this Unix time")


def _index(args):
    from controller.collect.index import SampleIndex
    from controller.state.store import DEFAULT_FILE

    if getattr(args, "server", None):
        from controller.cli.remote_state import RemoteSamples

        return RemoteSamples(client_from_args(args))

    path = Path(args.state_dir or ".") / DEFAULT_FILE
    if not path.exists():
        raise UsageError(f"{path}: no state store here; run `origami reconcile` (which collects samples) "
                         "or pass --state-dir")
    return SampleIndex(path)


def _selection(args):
    from controller.collect.index import Selection

    if args.labels and args.unlabelled:
        raise UsageError("--label and --unlabelled exclude each other")
    return Selection(sensor=args.sensor, fleet=args.fleet, device=args.device, session=args.session,
                     since=args.since, until=args.until, labels=tuple(args.labels) if args.labels else None,
                     labelled=False if args.unlabelled else None)


def run_ls(args) -> int:
    index = _index(args)
    if args.rejected:
        rejected = index.rejections(args.device)
        emit([vars(r) for r in rejected], args.output, lambda: table(
            ["TIME", "DEVICE", "REASON", "BYTES", "PAYLOAD", "MESSAGE"],
            [[_time(r.received_at), r.device_id, r.reason, r.size, r.payload_digest[:12], r.message]
             for r in rejected]))
        return 0
    selection = _selection(args)
    if args.counts:
        labels = index.counts_by_label(selection)
        devices = index.device_counters()
        data = {"labels": labels, "devices": devices}
        emit(data, args.output, lambda: table(["LABEL", "SAMPLES"], [[k or "(none)", v] for k, v in labels.items()])
             + "\n\n" + table(["DEVICE", "MESSAGES", "WINDOWS", "DUPLICATES", "REJECTED", "OUT-OF-ORDER"],
                              [[d, c["messages"], c["windows"], c["duplicates"], c["rejected"], c["out_of_order"]]
                               for d, c in devices.items() if not args.device or d == args.device]))
        return 0
    total = index.count(selection)
    records = index.select(selection)
    if args.limit:
        records = records[-args.limit:]
    emit([r.to_dict() for r in records], args.output, lambda: table(
        ["ID", "TIME", "DEVICE", "SENSOR", "SHAPE", "SESSION", "LABEL", "DIGEST"],
        [[r.id, _time(r.ts), r.device_id, r.sensor, "x".join(map(str, r.shape)), r.session or "-", r.label or "-",
          r.digest[:12]] for r in records]) + (f"\n({len(records)} of {total} shown; --limit 0 for all)"
                                              if len(records) < total else ""))
    return 0


def run_label(args) -> int:
    from controller.collect.labels import label_one
    from controller.collect.labels import label_range
    from controller.collect.labels import label_session

    if args.unlabel == bool(args.label):
        raise UsageError("give a LABEL, or --unlabel to remove labels")
    label = None if args.unlabel else args.label
    ways = [args.session is not None, args.since is not None or args.until is not None, bool(args.ids)]
    if sum(ways) != 1:
        raise UsageError("choose what to label: --session S, or --since T --until T, or --id N")
    if args.server:  # the API records the action as an event naming the operator
        from controller.cli.remote_state import remote_label

        done = remote_label(client_from_args(args, acting=True), {
            "label": label, "session": args.session, "since": args.since, "until": args.until, "ids": args.ids,
            "device": args.device, "sensor": args.sensor})
        _print_labelled(done["changed"], label, done["labelRevision"])
        return 0
    index = _index(args)
    if args.session is not None:
        changed = label_session(index, args.session, label, device=args.device)
    elif args.ids:
        changed = label_one(index, args.ids, label)
    else:
        if args.since is None or args.until is None:
            raise UsageError("a time range needs both --since and --until")
        changed = label_range(index, args.since, args.until, label, device=args.device, sensor=args.sensor)
    _print_labelled(changed, label, index.label_revision())
    return 0


def _print_labelled(changed: int, label: str | None, revision: int) -> None:
    print(f"{changed} sample(s) {'unlabelled' if label is None else 'labelled ' + repr(label)} "
          f"(label revision {revision})")


def run_export(args) -> int:
    from controller.collect.export import export_csv
    from controller.collect.export import export_npz
    from controller.collect.segments import load_windows
    from controller.store.artifacts import ArtifactStore

    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in ("npz", "csv"):
        raise UsageError(f"cannot tell the format of {args.out}; name it .npz or .csv, or pass --format")
    index = _index(args)
    records = index.select(_selection(args))
    if not records:
        raise UsageError("no samples match; list them with `origami samples ls`")
    store = ArtifactStore(args.artifacts or Path(args.state_dir or ".") / ".origami" / "artifacts")
    windows = load_windows(store, records)
    count = (export_npz if fmt == "npz" else export_csv)(records, windows, args.out)
    print(f"{count} sample(s) written to {args.out}")
    return 0


def _time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
