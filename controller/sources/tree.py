"""Materializing one revision's tree on disk, bounded, atomically, and pruning old ones.

A tree is written under a temporary name and renamed into `<workdir>/<revision>` only when complete,
so a killed controller never leaves half a revision that looks whole. Sizes are checked while writing
(a blob that compresses to kilobytes in git may be a gigabyte on disk). Symlinks are kept as symlinks:
every reader resolves paths through the repository confinement check, which refuses one that leaves
the tree.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from specs.errors import SourceError
from wire.logs import get_logger

log = get_logger("sources.tree")

MAX_TREE_FILES = 20_000
MAX_TREE_BYTES = 2 * 1024 ** 3
KEEP_RECENT = 5  # revisions kept besides the ones in use
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._:-]+$")


@dataclass(frozen=True)
class Entry:
    """One file of a tree: a regular file (with a reader) or a symlink (with its target)."""

    path: str  # relative, '/'-separated
    executable: bool = False
    open: Callable[[], AbstractContextManager[BinaryIO]] | None = None  # a regular file's reader
    size: int | None = None  # known before reading (a git blob's header), checked against the budget first
    link: str | None = None  # the symlink's target, for a symlink


@dataclass(frozen=True)
class Budget:
    files: int = MAX_TREE_FILES
    bytes: int = MAX_TREE_BYTES


def revision_dir(workdir: Path, revision_id: str) -> Path:
    name = revision_id.replace(":", "-")
    if not _SAFE_NAME.match(name):
        raise SourceError(f"revision id {revision_id[:40]!r} is not a safe directory name")
    return Path(workdir) / name


def _inside(relative: str) -> bool:
    parts = relative.split("/")
    return bool(relative) and not relative.startswith("/") and ".." not in parts and "" not in parts


def materialize(entries: Iterable[Entry], target: Path, budget: Budget = Budget()) -> Path:
    """Write every entry under `target` (atomically); SourceError when the tree is over budget."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".incoming-{target.name}-{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir()
    files = written = 0
    try:
        for entry in entries:
            if not _inside(entry.path):
                raise SourceError(f"the tree holds a path that leaves it ({entry.path[:80]!r}); refusing it")
            files += 1
            if files > budget.files:
                raise SourceError(f"the tree has more than {budget.files:,} files; the spec repository is too "
                                  "large for one revision (keep data in a Dataset source of its own)")
            destination = staging / entry.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            if entry.link is not None:
                os.symlink(entry.link, destination)
                continue
            assert entry.open is not None
            if entry.size is not None and written + entry.size > budget.bytes:
                raise _too_large(budget.bytes)
            with entry.open() as source, open(destination, "wb") as out:
                written = _copy_bounded(source, out, written, budget.bytes)
            if entry.executable:
                destination.chmod(0o755)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("revision materialized", extra={"target": target.name, "files": files, "bytes": written})
    return target


def _copy_bounded(source: BinaryIO, out: BinaryIO, written: int, limit: int) -> int:
    while block := source.read(1 << 20):
        written += len(block)
        if written > limit:
            raise _too_large(limit)
        out.write(block)
    return written


def _too_large(limit: int) -> SourceError:
    return SourceError(f"the tree is larger than {limit / 1024 ** 3:.1f} GiB on disk; refusing it "
                       "(a data file may be much larger than its compressed size in git)")


def walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular file and symlink under root (relative path, lstat), hidden directories skipped,
    in a stable order. Symlinked directories are not descended into."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        linked = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__" and d not in linked)
        for name in sorted(set(filenames) | set(linked)):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                yield path.relative_to(root).as_posix(), info


class TreeDigest:
    """The digest of a directory tree (paths, modes, contents), with file digests cached by
    (size, mtime, inode) so that watching a directory does not re-read unchanged data every pass."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int, int], str]] = {}

    def of(self, root: Path, budget: Budget = Budget()) -> str:
        h = hashlib.sha256()
        files = total = 0
        for relative, info in walk(root):
            files += 1
            if files > budget.files:
                raise SourceError(f"the spec directory has more than {budget.files:,} files")
            path = root / relative
            if stat.S_ISLNK(info.st_mode):
                h.update(f"L\0{relative}\0{os.readlink(path)}\0".encode())
                continue
            total += info.st_size
            if total > budget.bytes:
                raise SourceError(f"the spec directory is larger than {budget.bytes / 1024 ** 3:.1f} GiB")
            stamp = (info.st_size, info.st_mtime_ns, info.st_ino)
            cached = self._files.get(relative)
            digest = cached[1] if cached and cached[0] == stamp else _file_digest(path)
            self._files[relative] = (stamp, digest)
            h.update(f"F\0{relative}\0{int(bool(info.st_mode & 0o111))}\0{digest}\0".encode())
        return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def prune(workdir: Path, keep: set[Path], keep_recent: int = KEEP_RECENT) -> list[Path]:
    """Remove materialized revisions except `keep` and the most recent few; the removed ones."""
    if not workdir.is_dir():
        return []
    trees = sorted((p for p in workdir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for tree in trees[keep_recent:]:
        if tree not in keep:
            shutil.rmtree(tree, ignore_errors=True)
            removed.append(tree)
    for stale in workdir.glob(".incoming-*"):  # a materialization a killed process left behind
        shutil.rmtree(stale, ignore_errors=True)
    return removed
