"""`origami simulate --fleet N --board rpi4 --label site=lab --broker URL --public-key PEM`."""
from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path

from controller.cli.broker_flags import add_broker_flags
from controller.cli.broker_flags import connection_from_args
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="run a fleet of virtual devices against a broker",
                              description="Start N virtual devices (the real device agent on temporary disks) "
                                          "until interrupted.")
    p.add_argument("--fleet", type=int, required=True, help="number of devices")
    p.add_argument("--board", action="append", default=[], help="DeviceProfile name, repeatable (round-robin)")
    p.add_argument("--label", action="append", default=[], help="key=value, repeatable")
    p.add_argument("--kind", default="linux", help="device kind (linux; others when registered)")
    p.add_argument("--public-key", required=True, type=Path, help="the controller's signing public key (PEM)")
    p.add_argument("--credentials", type=Path, help="credentials.json written by `origami broker config`: "
                                                    "each device logs in as itself")
    add_broker_flags(p)
    p.add_argument("--prefix", default="sim")
    p.add_argument("--dir", type=Path, help="where the virtual disks live (default: a temporary directory)")
    p.add_argument("--fail-health", action="store_true", help="every device fails its health check")
    p.add_argument("--drop-at-chunk", type=int, help="cut each device's connection at this chunk")
    p.add_argument("--corrupt-chunk", type=int, help="corrupt this chunk on each device")
    p.set_defaults(func=run)


def run(args, stop: threading.Event | None = None) -> int:
    from device.virtual.linux_board import Faults
    from device.virtual.simulate import fleet_specs
    from device.virtual.simulate import start_fleet
    from device.virtual.simulate import stop_fleet
    from wire.manifests import load_public_key

    labels = {}
    for item in args.label:
        if "=" not in item:
            raise UsageError(f"--label '{item}' must be key=value")
        key, value = item.split("=", 1)
        labels[key] = value
    credentials = json.loads(args.credentials.read_text()) if args.credentials else None
    root = args.dir or Path(tempfile.mkdtemp(prefix="origami-sim-"))
    faults = Faults(drop_at_chunk=args.drop_at_chunk, corrupt_chunk=args.corrupt_chunk, fail_health=args.fail_health)
    broker = connection_from_args(args)
    specs = fleet_specs(args.fleet, broker, root, load_public_key(args.public_key), boards=args.board or ["rpi4"],
                        labels=labels, prefix=args.prefix, faults=faults, credentials=credentials)

    def progress(done: int, total: int) -> None:
        print(f"\rstarted {done}/{total} devices", end="" if done < total else "\n", file=sys.stderr)

    devices = start_fleet(specs, args.kind, progress)
    print(f"{len(devices)} virtual devices on {broker.url}, disks under {root}; Ctrl-C stops them", file=sys.stderr)
    try:
        (stop or threading.Event()).wait()
    finally:
        stop_fleet(devices)
    return 0
