"""`origami plan [PATH]`: what applying a spec repository would change (for pull requests).

Compared with the recorded state when a state store exists (`--state-dir`, default: the working
directory), else with an empty state (everything is new).
"""
from __future__ import annotations

import json
from pathlib import Path

from controller.cli.limits_option import add_limits_option, limits_from_args
from controller.loading import load_repository
from controller.planning.plan import RecordedState, plan_repository
from controller.state import DEFAULT_FILE, open_store
from specs.errors import SpecError


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="show what applying a spec repository would change")
    p.add_argument("path", nargs="?", default=".", help="spec repository (default: .)")
    p.add_argument("--state-dir", default=None,
                   help=f"directory holding {DEFAULT_FILE} to compare with (default: the working directory; "
                        "without one, the plan starts from empty state)")
    p.add_argument("--output", "-o", choices=["text", "json"], default="text")
    add_limits_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    repo = load_repository(args.path, limits_from_args(args))
    if not repo.valid:
        raise SpecError(repo.issues)
    state, cached = RecordedState(), None
    state_dir = Path(args.state_dir or ".")
    if (state_dir / DEFAULT_FILE).exists():
        store = open_store(state_dir, read_only=True)
        state = RecordedState.from_store(store)

        def cached(kind: str, key: str) -> bool:
            stage = store.stage(key)
            return bool(stage and stage["status"] == "done")
    plan = plan_repository(repo, state, cached)
    if args.output == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(plan.render_text())
    return 0
