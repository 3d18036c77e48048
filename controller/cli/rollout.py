"""`origami rollout pause|resume|undo|retry FLEET`: operator control of a running rollout;
`origami rollout status FLEET [-w]`: where it stands (as `kubectl rollout status`: with --watch, exit 0
once the fleet is Ready on the commit in force, 1 when it is Stalled or halted).

Two ways, one set of rules: with `--server URL` (alias `--controller`) the action goes through the
controller's API with an operator token (as the dashboard's and any script's do); without it, it is written into the
local state store, which needs write access to the state directory: whoever can write that
directory holds operator power (docs/security.md, "The operator")."""
from __future__ import annotations

import getpass
import os
from pathlib import Path

from controller.cli.controller_api import client_from_args
from controller.cli.controller_api import post_rollout_action
from controller.cli.output import printable
from controller.cli.remote_state import add_reader_flags
from controller.cli.remote_state import open_reader
from controller.state import STATE_URL_ENV
from controller.state import open_store
from controller.state.store import DEFAULT_FILE
from specs.errors import AuthError
from specs.errors import NotFoundError

ACTIONS = ("pause", "resume", "undo", "retry")


def register(subparsers) -> None:
    p = subparsers.add_parser("rollout", help="a fleet's rollout: status, or pause, resume, undo, retry")
    p.add_argument("action", choices=("status", *ACTIONS))
    p.add_argument("fleet")
    p.add_argument("--watch", "-w", action="store_true",
                   help="status: print each change until the fleet is Ready (exit 0) or Stalled (exit 1)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="status --watch: give up after this long (exit 1; default 600)")
    add_reader_flags(p)
    p.set_defaults(func=run)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def _require_write_access(state_dir: Path) -> None:
    """Local actions are operator power: refuse, before opening anything, a caller who cannot write
    the state directory and its store."""
    store_file = state_dir / DEFAULT_FILE
    if not store_file.exists():
        return  # open_store says what is missing
    if not (os.access(state_dir, os.W_OK) and os.access(store_file, os.W_OK)):
        raise AuthError("you cannot write the state directory (--state-dir), and only its owners may act on "
                        "it directly; act through the controller's API instead: --server URL --token-file FILE")


def _status_lines(store, fleet: str) -> tuple[list[str], str]:
    """What `rollout status` prints, and the verdict: "ready", "stalled" or "progressing"."""
    from controller.web.views import device_rows

    obj = store.object("Fleet", fleet)
    if obj is None:
        raise NotFoundError(f"fleet '{fleet}' has no status yet; see `origami get fleets`")
    s, record = obj.fleet, store.rollout(fleet)
    verdict = "ready" if obj.is_true("Ready") else "stalled" if obj.is_true("Stalled") else "progressing"
    phase = record.phase if record else (s.phase or "-")
    lines = [f"Fleet/{printable(fleet)}: {verdict}, {s.updated}/{s.members} updated to "
             f"{printable(s.target or s.version or '-')} ({phase}"
             + (f", step {record.step}" if record and phase == "progressing" else "")
             + (", paused" if s.paused else "") + ")"]
    for c in obj.conditions.values():
        if c.status and c.message:
            lines.append(f"  {c.type}: {printable(c.reason)}: {printable(c.message)}")
    for row in device_rows(store):
        if row.fleet == fleet and row.sync != "updated":
            lines.append(f"  {printable(row.id):<24} {row.sync:<8} {printable(row.reason or '-')}")
    return lines, verdict


def _status(args) -> int:
    import time

    store = open_reader(args)
    deadline, shown = time.monotonic() + args.timeout, None
    while True:
        lines, verdict = _status_lines(store, args.fleet)
        if lines != shown:
            print("\n".join(lines), flush=True)
            shown = lines
        if not args.watch or verdict != "progressing":
            return 1 if args.watch and verdict == "stalled" else 0
        if time.monotonic() > deadline:
            print(f"origami: Fleet/{printable(args.fleet)} still rolling out after {args.timeout:g} s", flush=True)
            return 1
        time.sleep(1.0)


def run(args) -> int:
    if args.action == "status":
        return _status(args)
    if args.server:
        result = post_rollout_action(client_from_args(args, acting=True), args.fleet, args.action)
        print(f"fleet {printable(args.fleet)}: {args.action} recorded by {printable(result.get('by', '?'))} "
              f"(event #{result.get('event', '?')}); the controller applies it on its next pass")
        return 0
    from controller.web.actions import rollout_action

    state_dir = Path(args.state_dir or ".")
    if not (args.state or os.environ.get(STATE_URL_ENV)):  # PostgreSQL's own grants decide there
        _require_write_access(state_dir)
    result = rollout_action(open_store(state_dir, url=args.state), args.fleet, args.action, _local_user(), "cli")
    print(f"fleet {printable(args.fleet)}: {result.message}")
    return 0
