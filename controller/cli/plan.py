"""`origami plan [PATH]`: what applying a spec repository would do (for pull requests).

Stages are looked up in the artifact store of `--state-dir` (what is built already is not built
again) and rollouts are compared with the recorded state there when a state store exists; without
one, every fleet is new and no device is known.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from controller.cli.limits_option import add_limits_option
from controller.cli.limits_option import limits_from_args
from controller.cli.output import add_state_url_flag
from controller.loading import load_repository
from controller.planning.plan import RecordedState
from controller.planning.plan import plan_repository
from controller.reconciler.wiring import artifact_dir
from controller.state import DEFAULT_FILE
from controller.state import STATE_URL_ENV
from controller.state import open_store
from controller.store import ArtifactStore
from controller.store import StageCache
from specs.errors import SpecError
from wire.text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="show what applying a spec repository would change")
    p.add_argument("path", nargs="?", default=".", help="spec repository (default: .)")
    p.add_argument("--state-dir", default=None,
                   help=f"directory holding {DEFAULT_FILE} and the artifact store to compare with (default: the "
                        "working directory; without them, the plan starts from empty state)")
    add_state_url_flag(p)
    p.add_argument("--output", "-o", choices=["text", "json"], default="text")
    add_limits_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    repo = load_repository(args.path, limits_from_args(args))
    if not repo.valid:
        raise SpecError(repo.issues)
    state = RecordedState()
    state_dir = Path(args.state_dir or ".")
    url = args.state or os.environ.get(STATE_URL_ENV)
    if url or (state_dir / DEFAULT_FILE).exists():
        state = RecordedState.from_store(open_store(state_dir, read_only=True, url=url))
    artifacts = artifact_dir(state_dir)
    is_built = StageCache(ArtifactStore(artifacts)).is_cached if artifacts.is_dir() else None
    plan = plan_repository(repo, state, is_built)
    if args.output == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print("\n".join(printable(line) for line in plan.render_text().split("\n")))  # names are the spec's
    return 0
