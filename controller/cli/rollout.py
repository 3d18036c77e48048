"""`origami rollout pause|resume|undo FLEET`: operator control of a running rollout."""
from __future__ import annotations

from controller.cli.output import add_state_flag
from controller.state import open_store
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("rollout", help="pause, resume or undo a fleet's rollout")
    p.add_argument("action", choices=["pause", "resume", "undo"])
    p.add_argument("fleet")
    add_state_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args.state_dir)
    if args.action == "undo":
        ok = store.request_undo(args.fleet)
    else:
        ok = store.set_paused(args.fleet, args.action == "pause")
    if not ok:
        raise UsageError(f"fleet '{args.fleet}' has no rollout yet; see `origami get fleets`")
    store.emit("Fleet", args.fleet, {"pause": "Paused", "resume": "Resumed", "undo": "UndoRequested"}[args.action],
               f"operator: rollout {args.action}")
    print(f"fleet {args.fleet}: {args.action} recorded; the controller applies it on its next pass")
    return 0
