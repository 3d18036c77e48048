"""`origami validate [PATH]`: check a spec repository, for CI. Exit 0 valid, 1 invalid, 2 usage.

Notices (a Model that runs repository code) are printed too but keep the exit code at 0.
"""
from __future__ import annotations

import json
import sys

from controller.cli.limits_option import add_limits_option
from controller.cli.limits_option import limits_from_args
from controller.loading import load_repository
from wire.text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser("validate", help="validate a spec repository (for CI)",
                              description="Validate every spec under PATH and report all errors at once.")
    p.add_argument("path", nargs="?", default=".", help="spec repository or file (default: .)")
    p.add_argument("--format", choices=["text", "json", "github"], default="text",
                   help="github prints workflow annotations (::error file=...,line=...)")
    add_limits_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    repo = load_repository(args.path, limits_from_args(args))
    if args.format == "json":
        print(json.dumps({
            "valid": repo.valid,
            "files": repo.files,
            "documents": [{"ref": d.ref, "file": d.raw.file, "line": d.raw.start[0]} for d in repo.documents],
            "errors": [i.to_dict() for i in repo.issues],
            "notices": [i.to_dict() for i in repo.notices],
        }, indent=2))
    elif args.format == "github":
        for issue in repo.issues + repo.notices:
            print(printable(issue.github()))
        summary = "valid" if repo.valid else f"{len(repo.issues)} error(s)"
        print(f"origami validate: {repo.files} file(s), {len(repo.documents)} document(s): {summary}", file=sys.stderr)
    else:
        for issue in repo.issues + repo.notices:
            print(printable(issue))
        if repo.valid:
            print(f"{repo.files} file(s), {len(repo.documents)} document(s): valid")
        else:
            print(f"{len(repo.issues)} error(s) in {repo.files} file(s)", file=sys.stderr)
    return 0 if repo.valid else 1
