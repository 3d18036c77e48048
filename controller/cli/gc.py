"""`origami gc --state-dir DIR [--dry-run] [--keep-builds N]`: delete the artifacts and stage records
nothing needs any more (the reconcile loop does the same on its own every few minutes)."""
from __future__ import annotations

import json
import time

from controller.cli.output import add_state_flag
from controller.cli.storage_flags import add_gc_flags


def register(subparsers) -> None:
    p = subparsers.add_parser("gc", help="delete artifacts and stage records no fleet, build or sample needs")
    add_state_flag(p)
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    add_gc_flags(p, loop=False)
    p.add_argument("--output", "-o", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args) -> int:
    from controller.reconciler.maintenance import Maintenance
    from controller.reconciler.maintenance import MaintenanceSettings
    from controller.reconciler.maintenance import run_gc
    from controller.reconciler.wiring import artifact_dir
    from controller.state import open_store
    from controller.store.artifacts import ArtifactStore
    from controller.store.stage_cache import StageCache

    state = open_store(args.state_dir, url=args.state)
    try:
        store = ArtifactStore(artifact_dir(args.state_dir))
        cache = StageCache(store)
        forgotten: list[str] = []
        if args.forget_devices_after is not None and not args.dry_run:
            settings = MaintenanceSettings(forget_devices_s=args.forget_devices_after)
            forgotten = Maintenance(state, store, cache, settings, clock=time.time).forget_devices(set(), time.time())
        report = run_gc(state, store, cache, keep_builds=args.keep_builds, grace_s=args.gc_grace,
                        dry_run=args.dry_run)
        if report.count and not args.dry_run:
            state.emit("Source", "artifacts", "GarbageCollected", f"origami gc: {report.summary()}")
    finally:
        state.close()
    if args.output == "json":
        print(json.dumps({**report.to_dict(), "devices_forgotten": forgotten}, indent=2))
    else:
        print(report.summary())
        if forgotten:
            print(f"forgot {len(forgotten)} device(s) silent for longer than {args.forget_devices_after:g}s")
    return 0
