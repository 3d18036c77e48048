"""`origami operator-token [--name NAME] [--tenant T] [--role viewer|operator|admin] [--out FILE]`: a new
token for the dashboard, the API and `origami ... --server`, bound to a tenant and a role, handed over once.

The token goes to a terminal, or to a new file of mode 0600 (`--out`); never into a pipe or a
redirected stdout, which end up in logs and CI output."""
from __future__ import annotations

import sys
from pathlib import Path

from controller.cli.output import add_state_flag
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("operator-token", help="create or replace an operator's token (shown once)")
    p.add_argument("--name", default="operator", help="who the token belongs to; actions are recorded by it")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the token to this new file (mode 0600) instead of the terminal; "
                        "needed when stdout is not a terminal")
    p.add_argument("--tenant", default="default",
                   help="the tenant the token acts for (default: default, the single-team controller's)")
    p.add_argument("--role", default="operator", choices=("viewer", "operator", "admin"),
                   help="viewer reads; operator also acts on rollouts, labels and passes; admin also manages "
                        "the tenant's tokens (default operator)")
    add_state_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from controller.web.auth import TOKEN_FILE
    from controller.web.auth import TokenStore
    from controller.web.auth import write_secret

    if args.out is None and not sys.stdout.isatty():
        raise UsageError("stdout is not a terminal, and a token printed there would land in a log: "
                         "give --out FILE (a new file, mode 0600)")
    out = Path(args.out) if args.out else None
    if out is not None and (out.exists() or out.is_symlink()):
        raise UsageError(f"--out {out.name}: the file exists; choose a new path (the token is written only once)")
    tokens = TokenStore(Path(args.state_dir or ".") / TOKEN_FILE)
    token = tokens.create(args.name, tenant=args.tenant, role=args.role)
    replaced = "; the previous token of this operator no longer works"
    who = f"operator {args.name}" + ("" if (args.tenant, args.role) == ("default", "operator")
                                     else f" ({args.role} of tenant {args.tenant})")
    if out is None:
        print(f"{who}: {token}\n(shown once; only its salted hash is kept{replaced})")
    else:
        write_secret(out, token)
        print(f"{who}: token written to {out} (mode 0600; only its salted hash is kept{replaced})")
    return 0
