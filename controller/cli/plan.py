"""`origami plan [PATH]`: what applying a spec repository would do (for pull requests).

The plan compares the specs with a controller's state: the running controller's (`--server URL`,
through its API: what is built, what each device was told to run), or a state directory's
(`--state-dir`: its state store and artifact store). Without either, and without a state store in
the working directory, every fleet is new and no device is known. `-o markdown` renders it for a
pull request comment.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from controller.cli.controller_api import ControllerClient
from controller.cli.controller_api import add_server_flags
from controller.cli.controller_api import client_from_args
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
from specs.errors import NotFoundError
from specs.errors import SpecError
from wire.text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="show what applying a spec repository would change")
    p.add_argument("path", nargs="?", default=".", help="spec repository (default: .)")
    p.add_argument("--state-dir", default=None,
                   help=f"directory holding {DEFAULT_FILE} and the artifact store to compare with (default: the "
                        "working directory; without them, the plan starts from empty state)")
    add_state_url_flag(p)
    add_server_flags(p)
    p.add_argument("--output", "-o", choices=["text", "json", "markdown"], default="text",
                   help="markdown: a pull request comment (summary, fleets, every action)")
    add_limits_option(p)
    p.set_defaults(func=run)


class RemoteStages:
    """`StageCache.is_cached` over the API, one lookup per stage key (a plan has a few dozen)."""

    def __init__(self, client: ControllerClient) -> None:
        self.client = client

    def is_cached(self, key: str) -> bool:
        try:
            return bool(self.client.get(f"records/stages/{quote(key, safe='')}")[0]["cached"])
        except NotFoundError:  # a controller without an artifact store has built nothing
            return False


def _compare_with(args):
    """(recorded state, stage lookup, what the plan was compared with, for the markdown)."""
    if args.server:
        from controller.cli.remote_state import RemoteState

        client = client_from_args(args)
        remote = RemoteState(client)
        _, good = remote.source_state()
        where = f"the controller at {client.origin}" + (f" (commit `{good[:12]}` applied)" if good else "")
        return RecordedState.from_store(remote), RemoteStages(client).is_cached, where
    state_dir = Path(args.state_dir or ".")
    state, where = RecordedState(), "an empty state (no controller or state directory given)"
    url = args.state or os.environ.get(STATE_URL_ENV)
    if url:
        state, where = RecordedState.from_store(open_store(state_dir, read_only=True, url=url)), "a state database"
    elif (state_dir / DEFAULT_FILE).exists():
        state, where = RecordedState.from_store(open_store(state_dir, read_only=True)), "a state directory"
    artifacts = artifact_dir(state_dir)
    is_built = StageCache(ArtifactStore(artifacts)).is_cached if artifacts.is_dir() else None
    return state, is_built, where


def run(args) -> int:
    repo = load_repository(args.path, limits_from_args(args))
    if not repo.valid:
        raise SpecError(repo.issues)
    state, is_built, where = _compare_with(args)
    plan = plan_repository(repo, state, is_built)
    if args.output == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    elif args.output == "markdown":
        from controller.planning.markdown import render_markdown

        print(render_markdown(plan, where), end="")
    else:
        print("\n".join(printable(line) for line in plan.render_text().split("\n")))  # names are the spec's
    return 0
