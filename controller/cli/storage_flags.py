"""Options of bounded storage, shared by `origami gc` and `origami reconcile`: how many builds to keep,
the grace period, when to forget a silent device, how often the loop collects."""
from __future__ import annotations

import argparse
import re

from controller.reconciler.maintenance import MaintenanceSettings
from controller.store.gc import DEFAULT_GRACE_S
from controller.store.gc import DEFAULT_KEEP_BUILDS

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def duration(text: str) -> float:
    """Seconds from '90', '90s', '15m', '12h' or '30d' (an argparse type)."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write e.g. 3600, 90m, 12h or 30d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def keep_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of builds (0 or more)")
    return value


def add_gc_flags(parser, *, loop: bool) -> None:
    parser.add_argument("--keep-builds", type=keep_count, default=DEFAULT_KEEP_BUILDS, metavar="N",
                        help=f"keep the last N builds of each model and bundles of each model and board, besides "
                             f"what fleets run or may roll back to (default {DEFAULT_KEEP_BUILDS})")
    parser.add_argument("--gc-grace", type=duration, default=DEFAULT_GRACE_S, metavar="DURATION",
                        help="never delete anything newer than this: a running build may be writing it (default 1h)")
    if loop:
        parser.add_argument("--gc-every", type=duration, default=600.0, metavar="DURATION",
                            help="collect garbage and forget stale devices at most this often (default 10m)")
        parser.add_argument("--forget-devices-after", type=duration, default=30 * 86400.0, metavar="DURATION",
                            help="forget a device silent this long and in no rollout in progress (default 30d)")
    else:
        parser.add_argument("--forget-devices-after", type=duration, default=None, metavar="DURATION",
                            help="also forget devices silent this long and in no rollout in progress")


def maintenance_settings(args) -> MaintenanceSettings:
    return MaintenanceSettings(every_s=args.gc_every, keep_builds=args.keep_builds, grace_s=args.gc_grace,
                               forget_devices_s=args.forget_devices_after)
