"""`origami operator-token [--name NAME]`: a new operator token for the dashboard and API, printed once."""
from __future__ import annotations

from pathlib import Path

from controller.cli.output import add_state_flag


def register(subparsers) -> None:
    p = subparsers.add_parser("operator-token", help="create or replace an operator's token (printed once)")
    p.add_argument("--name", default="operator", help="who the token belongs to; actions are recorded by it")
    add_state_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from controller.web.auth import TOKEN_FILE, TokenStore

    tokens = TokenStore(Path(args.state_dir or ".") / TOKEN_FILE)
    token = tokens.create(args.name)
    print(f"operator {args.name}: {token}\n(shown once; only its salted hash is kept in {tokens.path}; "
          "the previous token of this operator no longer works)")
    return 0
