"""`origami schema`: print or write the JSON Schemas generated from specs/."""
from __future__ import annotations

from pathlib import Path

from controller import schemas


def register(subparsers) -> None:
    p = subparsers.add_parser("schema", help="print or write JSON Schemas of the spec kinds")
    p.add_argument("--write", metavar="DIR", type=Path, help="write one file per kind into DIR")
    p.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if the schemas in DIR are stale")
    p.add_argument("--kind", default="any", help="kind to print (default: any)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.check:
        stale = schemas.stale_files(args.check)
        for name in stale:
            print(f"{args.check / name}: stale; run `origami schema --write {args.check}`")
        return 1 if stale else 0
    if args.write:
        for path in schemas.write(args.write):
            print(path)
        return 0
    generated = schemas.generate()
    name = f"{args.kind.lower()}.json"
    if name not in generated:
        from specs.errors import UsageError

        raise UsageError(f"unknown kind '{args.kind}'; choose from {', '.join(n[:-5] for n in generated)}")
    print(schemas.render(generated[name]), end="")
    return 0
