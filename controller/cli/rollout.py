"""`origami rollout pause|resume|undo|retry FLEET`: operator control of a running rollout.

Two ways, one set of rules: with `--controller URL` the action goes through the controller's API
with an operator token (as the dashboard's and any script's do); without it, it is written into the
local state store, which needs write access to the state directory: whoever can write that
directory holds operator power (docs/security.md, "The operator")."""
from __future__ import annotations

import getpass
import os
from pathlib import Path

from controller.cli.controller_api import add_controller_flags
from controller.cli.controller_api import post_rollout_action
from controller.cli.controller_api import read_token
from controller.cli.output import add_state_flag
from controller.cli.output import printable
from controller.state import open_store
from controller.state.store import DEFAULT_FILE
from specs.errors import AuthError

ACTIONS = ("pause", "resume", "undo", "retry")


def register(subparsers) -> None:
    p = subparsers.add_parser("rollout", help="pause, resume, undo or retry a fleet's rollout")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("fleet")
    add_controller_flags(p)
    add_state_flag(p)
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
                        "it directly; act through the controller's API instead: --controller URL --token-file FILE")


def run(args) -> int:
    if args.controller:
        result = post_rollout_action(args.controller, read_token(args.token_file), args.fleet, args.action)
        print(f"fleet {printable(args.fleet)}: {args.action} recorded by {printable(result.get('by', '?'))} "
              f"(event #{result.get('event', '?')}); the controller applies it on its next pass")
        return 0
    from controller.web.actions import rollout_action

    state_dir = Path(args.state_dir or ".")
    _require_write_access(state_dir)
    result = rollout_action(open_store(state_dir), args.fleet, args.action, _local_user(), "cli")
    print(f"fleet {printable(args.fleet)}: {result.message}")
    return 0
