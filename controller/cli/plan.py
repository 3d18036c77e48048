"""`origami plan [PATH]`: what applying a spec repository would do (for pull requests)."""
from __future__ import annotations

import json

from controller.errors import SpecError
from controller.loading import load_repository
from controller.planning import plan_repository


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="show what applying a spec repository would change")
    p.add_argument("path", nargs="?", default=".", help="spec repository (default: .)")
    p.add_argument("--output", "-o", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args) -> int:
    repo = load_repository(args.path)
    if not repo.valid:
        raise SpecError(repo.issues)
    plan = plan_repository(repo)
    if args.output == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(plan.render_text())
    return 0
