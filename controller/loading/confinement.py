"""Every path a spec names stays inside its repository: relative, and resolving under the root.

One place decides, for `origami validate` (located issues) and for the pipeline's readers and
digests (stage errors): a path is written relative to the spec file's folder, its real path (every
symlink followed) is inside the real repository root, and it exists. Problems are phrased about
the path as the spec wrote it; no message names a host path or shows a file's contents.
"""
from __future__ import annotations

import os
import posixpath
from pathlib import Path
from pathlib import PurePosixPath


class RefusedPath(ValueError):
    """A spec path that is absolute or leaves the repository (the message says why)."""


class MissingPath(RefusedPath):
    """A spec path that stays inside the repository but names nothing there."""


def lexical_problem(folder: str, written: str) -> str | None:
    """Why `written`, relative to a spec file's `folder` (itself relative to the root), cannot name a
    file of the repository, judged from the text alone (no disk: a git commit is checked this way)."""
    if "\0" in written:
        return "contains a NUL character"
    if PurePosixPath(written).is_absolute():
        return "is absolute; write it relative to this spec file's folder"
    joined = posixpath.normpath(posixpath.join(folder or ".", written))
    if joined == ".." or joined.startswith("../"):
        return "leaves the spec repository; data files must be inside it"
    return None


def _inside(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def confine(root: Path, path: Path) -> Path:
    """The real path of `path` (every symlink followed) if it is inside the real `root`."""
    real = os.path.realpath(path)
    if not _inside(os.path.realpath(root), real):
        how = "through a symlink" if _inside(os.path.abspath(root), os.path.abspath(path)) else "itself"
        raise RefusedPath(f"resolves outside the spec repository ({how})")
    return Path(real)


def resolve_in_repository(root: Path, base: Path, written: str) -> Path:
    """The real path that `written` (relative to `base`, a folder inside `root`) names in the repository."""
    relative_base = os.path.relpath(os.path.abspath(base), os.path.abspath(root))
    problem = lexical_problem("" if relative_base == "." else relative_base, written)
    if problem:
        raise RefusedPath(problem)
    real = confine(root, Path(base, written))
    if not real.exists():
        raise MissingPath("does not exist in the spec repository (paths are relative to the spec file)")
    return real


def files_under(root: Path, folder: Path, max_files: int) -> list[tuple[str, Path]]:
    """(path relative to folder, real path) of every file below `folder`, sorted; hidden ones included.

    Directory symlinks are not descended (as `Path.rglob`), but any entry whose real path leaves the
    repository is refused, and so is a tree of more than `max_files` files (a RefusedPath too).
    """
    found: list[tuple[PurePosixPath, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            entry = Path(dirpath, name)
            try:
                real = confine(root, entry)
            except RefusedPath as err:
                shown = PurePosixPath(os.path.relpath(entry, folder))
                raise RefusedPath(f"holds {str(shown)!r:.80}, which {err}") from None
            if name in filenames and real.is_file():
                found.append((PurePosixPath(os.path.relpath(entry, folder)), real))
                if len(found) > max_files:
                    raise RefusedPath(f"holds more than {max_files} files")
    return [(str(rel), real) for rel, real in sorted(found)]


def module_file(root: Path, base: Path, module: str) -> Path:
    """The real path of `module` (dotted) as `module.py` or `module/__init__.py` under `base`."""
    stem = module.replace(".", "/")
    for written in (f"{stem}.py", f"{stem}/__init__.py"):
        try:
            return resolve_in_repository(root, base, written)
        except MissingPath:
            continue
    raise MissingPath(f"has no file {stem}.py or {stem}/__init__.py next to the Model's spec file")
