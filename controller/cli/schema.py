"""`origami schema`: print or write the JSON Schemas generated from specs/, and point a spec
repository's files at them.

`origami schema --write schemas/ --modelines .` in a spec repository writes the schemas there and
makes the first line of every spec file a `# yaml-language-server: $schema=RELATIVE/PATH` modeline
(the kind's schema, or any.json for a file of several kinds). Relative paths inside the repository
keep working when the repository is cloned, moved or copied whole; `--check` in CI says when an
upgrade of Origami changed them."""
from __future__ import annotations

import os
from pathlib import Path

from controller import schemas
from specs.errors import UsageError

MODELINE = "# yaml-language-server: $schema="


def register(subparsers) -> None:
    p = subparsers.add_parser("schema", help="print or write JSON Schemas of the spec kinds")
    p.add_argument("--write", metavar="DIR", type=Path, help="write one file per kind into DIR")
    p.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if the schemas in DIR are stale")
    p.add_argument("--modelines", metavar="SPECS", type=Path, default=None,
                   help="with --write: point every spec file under SPECS at the schemas in DIR with a "
                        "relative `# yaml-language-server: $schema=` first line (editor validation and hover)")
    p.add_argument("--kind", default="any", help="kind to print (default: any)")
    p.set_defaults(func=run)


def _kinds_in(text: str) -> set[str]:
    return {line.split(":", 1)[1].strip().strip("'\"") for line in text.splitlines() if line.startswith("kind:")}


def modeline(spec_file: Path, schema_dir: Path, kinds: set[str]) -> str:
    """The modeline for a spec file holding `kinds`: its kind's schema, or any.json."""
    name = f"{next(iter(kinds)).lower()}.json" if len(kinds) == 1 else "any.json"
    if name not in schemas.generate():
        name = "any.json"
    relative = os.path.relpath(schema_dir.resolve() / name, spec_file.resolve().parent)
    return MODELINE + Path(relative).as_posix()


def with_modeline(text: str, line: str) -> str:
    """`text` whose first line is `line`: an existing modeline replaced, otherwise one inserted."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith(MODELINE):
        lines = lines[1:]
    return line + "\n" + "".join(lines)


def write_modelines(specs: Path, schema_dir: Path) -> list[Path]:
    """Rewrite the first line of every spec file (a YAML file with a `kind:`) under `specs`."""
    if not specs.is_dir():
        raise UsageError(f"--modelines {specs}: not a directory")
    changed = []
    for path in sorted([*specs.rglob("*.yaml"), *specs.rglob("*.yml")]):
        if any(part.startswith(".") for part in path.relative_to(specs).parts) or path.is_symlink():
            continue  # .git, .github, .origami; a link may point outside the repository
        text = path.read_text(encoding="utf-8")
        kinds = _kinds_in(text)
        if not kinds:
            continue
        new = with_modeline(text, modeline(path, schema_dir, kinds))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def run(args) -> int:
    if args.modelines is not None and not args.write:
        raise UsageError("--modelines needs --write DIR: the modelines point at the schemas written there")
    if args.check:
        stale = schemas.stale_files(args.check)
        for name in stale:
            print(f"{args.check / name}: stale; run `origami schema --write {args.check}`")
        return 1 if stale else 0
    if args.write:
        for path in schemas.write(args.write):
            print(path)
        if args.modelines is not None:
            for path in write_modelines(args.modelines, args.write):
                print(f"{path}: modeline")
        return 0
    generated = schemas.generate()
    name = f"{args.kind.lower()}.json"
    if name not in generated:
        raise UsageError(f"unknown kind '{args.kind}'; choose from {', '.join(n[:-5] for n in generated)}")
    print(schemas.render(generated[name]), end="")
    return 0
