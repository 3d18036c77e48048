"""`origami validate [PATH]`: check a spec repository, for CI. Exit 0 valid, 1 invalid, 2 usage.

Notices (a Model that runs repository code) are printed too but keep the exit code at 0.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

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
        prefix = workspace_prefix(args.path)
        for issue in repo.issues + repo.notices:
            located = replace(issue, file=f"{prefix}/{issue.file}") if prefix and not Path(issue.file).is_absolute() \
                else issue
            print(printable(located.github()))
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


def workspace_prefix(path: str) -> str:
    """Where the validated folder lies in the checkout, as a POSIX path ("" at its top): GitHub puts
    an annotation on the diff only when its file is relative to the repository root, while issues
    name files relative to the validated folder (`origami validate specs/`). The checkout is
    $GITHUB_WORKSPACE when it holds the folder, else the nearest folder with a `.git`, else the
    working directory."""
    folder = Path(path).resolve()
    folder = folder if folder.is_dir() else folder.parent
    tops = [Path(os.environ["GITHUB_WORKSPACE"]).resolve()] if os.environ.get("GITHUB_WORKSPACE") else []
    tops += [p for p in (folder, *folder.parents) if (p / ".git").exists()][:1] + [Path.cwd().resolve()]
    top = next((t for t in tops if folder.is_relative_to(t)), None)
    return "" if top is None or folder == top else folder.relative_to(top).as_posix()
