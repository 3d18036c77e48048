"""The pinned third-party source trees that firmware builds compile against: the lock, the tree
digest, verification, and fetching from upstream.

`third_party.lock.json` (beside this module) names, per folder of the tree, its upstream repository,
the commit or tag, what of the checkout is kept, the patch TFLM applies to it, and the SHA-256 digest
of the resulting folder. `verify_tree` re-hashes a configured tree (`ORIGAMI_THIRD_PARTY`) against
the lock; `fetch_tree` rebuilds the tree from upstream (or from mirrors) and moves a folder into place
only once its digest equals the lock's, so a moved tag, a compromised mirror or a truncated download
never reaches a build.

The folder digest is SHA-256 over the sorted relative POSIX paths of its regular files, each with
its content's SHA-256: file modes and timestamps do not count (a copy may lose them), nor do `.git`
metadata, `__pycache__`, or the outputs TFLM's own Makefile writes into its tree.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from specs.errors import StageError

LOCK_PATH = Path(__file__).with_name("third_party.lock.json")
GIT_TIMEOUT_S = 900  # one shallow fetch of TFLM (~30 MB) on a slow link
_IGNORED_DIRS = frozenset({".git", "__pycache__"})
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ThirdPartyError(StageError):
    """The third-party tree is absent, differs from the lock, or could not be fetched."""


@dataclass(frozen=True)
class LockEntry:
    """One folder of the tree as the lock pins it."""

    name: str
    url: str
    ref: str  # a 40-hex commit, or a tag when upstream pins a release
    digest: str  # "sha256:<hex>" of the folder
    keep: tuple[str, ...] = ()  # paths kept from the checkout (all when empty)
    drop: tuple[str, ...] = ()  # paths removed from what is kept
    ignore: tuple[str, ...] = ()  # paths a build writes into the folder, not part of its digest
    patch: str | None = None  # a patch file, relative to the tree root, applied to the checkout
    licence: str = ""

    @property
    def is_commit(self) -> bool:
        return bool(_HEX40.match(self.ref))


@dataclass(frozen=True)
class FolderCheck:
    name: str
    status: str  # "ok", "differs" or "missing"
    expected: str
    actual: str | None = None
    files: int = 0

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "expected": self.expected, "actual": self.actual,
                "files": self.files}


@dataclass(frozen=True)
class TreeCheck:
    root: Path
    folders: tuple[FolderCheck, ...]

    @property
    def ok(self) -> bool:
        return all(f.status == "ok" for f in self.folders)

    def problems(self) -> list[FolderCheck]:
        return [f for f in self.folders if f.status != "ok"]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "folders": [f.to_dict() for f in self.folders]}


def _relative_paths(values, where: str) -> tuple[str, ...]:
    out = []
    for value in values or ():
        if not isinstance(value, str) or not value or value.startswith("/") or ".." in value.split("/"):
            raise ThirdPartyError(f"{where}: a path must be relative and stay inside the folder")
        out.append(value.rstrip("/"))
    return tuple(out)


def load_lock(path: Path = LOCK_PATH) -> tuple[LockEntry, ...]:
    """The lock's folders in fetch order (a folder whose patch lives in another comes after it)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ThirdPartyError(f"{path.name}: not a readable JSON lock ({type(err).__name__})") from None
    entries = []
    for i, item in enumerate(raw.get("folders", [])):
        where = f"{path.name}: folders[{i}]"
        if not isinstance(item, dict) or not _NAME.match(str(item.get("name", ""))):
            raise ThirdPartyError(f"{where}.name: a lower-case folder name is required")
        if not str(item.get("digest", "")).startswith("sha256:"):
            raise ThirdPartyError(f"{where}.digest: expected 'sha256:<hex>'")
        patch = item.get("patch")
        entries.append(LockEntry(
            name=item["name"], url=str(item["url"]), ref=str(item["ref"]), digest=item["digest"],
            keep=_relative_paths(item.get("keep"), f"{where}.keep"),
            drop=_relative_paths(item.get("drop"), f"{where}.drop"),
            ignore=_relative_paths(item.get("ignore"), f"{where}.ignore"),
            patch=_relative_paths([patch], f"{where}.patch")[0] if patch else None,
            licence=str(item.get("licence", ""))))
    if not entries:
        raise ThirdPartyError(f"{path.name}: no folders")
    return tuple(entries)


def _ignored(relative: str, ignore: tuple[str, ...]) -> bool:
    return any(relative == p or relative.startswith(p + "/") for p in ignore)


def folder_files(folder: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    """The folder's regular files as sorted relative POSIX paths, without what never counts."""
    out = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        base = Path(current)
        for name in files:
            path = base / name
            relative = path.relative_to(folder).as_posix()
            if name.endswith(".pyc") or _ignored(relative, ignore):
                continue
            if path.is_symlink() or not path.is_file():
                raise ThirdPartyError(f"{folder.name}/{relative}: not a regular file (links are not followed)")
            out.append(relative)
    return sorted(out)


def folder_digest(folder: Path, ignore: tuple[str, ...] = ()) -> tuple[str, int]:
    """("sha256:<hex>", number of files) of a folder, as the lock records it."""
    h = hashlib.sha256()
    files = folder_files(folder, ignore)
    for relative in files:
        content = hashlib.sha256((folder / relative).read_bytes()).hexdigest()
        h.update(f"{relative}\0{content}\n".encode())
    return "sha256:" + h.hexdigest(), len(files)


def check_folder(root: Path, entry: LockEntry) -> FolderCheck:
    folder = root / entry.name
    if not folder.is_dir():
        return FolderCheck(entry.name, "missing", entry.digest)
    digest, count = folder_digest(folder, entry.ignore)
    return FolderCheck(entry.name, "ok" if digest == entry.digest else "differs", entry.digest, digest, count)


def verify_tree(root: Path, lock: tuple[LockEntry, ...] | None = None, *,
                names: tuple[str, ...] | None = None) -> TreeCheck:
    """Every locked folder (or those in `names`) of `root` against the lock."""
    entries = [e for e in (lock or load_lock()) if names is None or e.name in names]
    return TreeCheck(root, tuple(check_folder(root, e) for e in entries))


_DIGEST_MEMO: dict[tuple[str, tuple[str, ...]], tuple[tuple, str]] = {}


def _fingerprint(folder: Path, ignore: tuple[str, ...]) -> tuple:
    """Cheap evidence that a folder is unchanged (paths, sizes, mtimes): a stat per file instead of
    reading 40 MB, so every firmware build can afford to key its cache on the tree's digest."""
    entries = []
    for relative in folder_files(folder, ignore):
        st = (folder / relative).stat()
        entries.append((relative, st.st_size, st.st_mtime_ns))
    return tuple(entries)


def sources_digests(root: Path, names: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """({folder: digest}, the folders whose digest is not the lock's) for the named folders of
    `root`; digests are remembered in the process while the folder's stat fingerprint holds."""
    lock = {e.name: e for e in load_lock()}
    digests: dict[str, str] = {}
    unlocked = []
    for name in names:
        entry = lock.get(name)
        ignore = entry.ignore if entry else ()
        folder = root / name
        if not folder.is_dir():
            raise ThirdPartyError(f"the third-party tree has no {name}/ folder (origami third-party fetch DIR "
                                  "fetches the pinned tree)")
        fingerprint = _fingerprint(folder, ignore)
        memo = _DIGEST_MEMO.get((str(folder), ignore))
        if memo is not None and memo[0] == fingerprint:
            digest = memo[1]
        else:
            digest = folder_digest(folder, ignore)[0]
            _DIGEST_MEMO[(str(folder), ignore)] = (fingerprint, digest)
        digests[name] = digest
        if entry is None or digest != entry.digest:
            unlocked.append(name)
    return digests, unlocked


# --- fetching ---------------------------------------------------------------------------------

def _git(args: list[str], cwd: Path, what: str, url: str | None = None) -> str:
    # GIT_CEILING_DIRECTORIES: a staging folder inside some other repository must not be taken for it.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(cwd.parent), "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise ThirdPartyError("git is not installed; it is needed to fetch the third-party tree") from None
    except subprocess.TimeoutExpired:
        raise ThirdPartyError(f"{what}: git took longer than {GIT_TIMEOUT_S}s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        if url:  # a mirror's URL may be a local path: errors never show host paths
            last = last.replace(url, "<url>").replace(url.removeprefix("file://"), "<url>")
        last = last[:200]
        raise ThirdPartyError(f"{what}: git {args[0]} failed: {last}")
    return done.stdout.strip()


def _checkout(entry: LockEntry, url: str, into: Path, where: str) -> None:
    """A shallow checkout of the entry's commit or tag; a commit is checked after the fetch."""
    into.mkdir(parents=True)
    what = f"{entry.name} from {where}"
    _git(["init", "-q"], into, what)
    ref = entry.ref if entry.is_commit else f"refs/tags/{entry.ref}"
    _git(["fetch", "-q", "--depth", "1", "--no-tags", url, ref], into, what, url)
    _git(["-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"], into, what)
    if entry.is_commit:
        head = _git(["rev-parse", "HEAD"], into, what)
        if head != entry.ref:
            raise ThirdPartyError(f"{entry.name}: upstream gave commit {head[:12]}, the lock pins {entry.ref[:12]}")
    shutil.rmtree(into / ".git")


def _apply_patch(entry: LockEntry, checkout: Path, tree: Path) -> None:
    patch = tree / entry.patch if entry.patch else None
    if patch is None:
        return
    if not patch.is_file():
        raise ThirdPartyError(f"{entry.name}: its patch {entry.patch} is not in the tree (fetch its folder first)")
    _git(["apply", "-p1", "--whitespace=nowarn", str(patch)], checkout, f"{entry.name}: applying {patch.name}")


def _select(entry: LockEntry, checkout: Path, folder: Path) -> None:
    """The kept part of the checkout, minus what the lock drops, as `folder`."""
    folder.mkdir(parents=True)
    for part in entry.keep or tuple(sorted(p.name for p in checkout.iterdir())):
        source = checkout / part
        if not source.exists():
            raise ThirdPartyError(f"{entry.name}: upstream has no {part} at {entry.ref[:12]}")
        target = folder / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    for part in entry.drop:
        target = folder / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


@dataclass
class FetchReport:
    root: Path
    fetched: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"root": str(self.root), "fetched": self.fetched, "already_verified": self.already}


def fetch_tree(root: Path, *, lock: tuple[LockEntry, ...] | None = None, mirrors: dict[str, str] | None = None,
               progress: Callable[[str], None] | None = None) -> FetchReport:
    """Fetch every locked folder that `root` lacks; a folder goes into place only with the lock's
    digest. A folder already there must verify: a differing one is an error, never overwritten."""
    entries = lock or load_lock()
    mirrors = mirrors or {}
    unknown = sorted(set(mirrors) - {e.name for e in entries})
    if unknown:
        raise ThirdPartyError(f"--mirror names folders the lock does not have: {', '.join(unknown)}")
    root.mkdir(parents=True, exist_ok=True)
    report = FetchReport(root)
    say = progress or (lambda _: None)
    for entry in entries:
        present = check_folder(root, entry)
        if present.status == "ok":
            report.already.append(entry.name)
            continue
        if present.status == "differs":
            raise ThirdPartyError(f"{entry.name}: the folder exists and differs from the lock ({present.actual}); "
                                  "remove it or fetch into an empty folder")
        url = mirrors.get(entry.name, entry.url)
        where = "its mirror" if entry.name in mirrors else entry.url
        say(f"fetching {entry.name} at {entry.ref[:12]} from {where}")
        with tempfile.TemporaryDirectory(dir=root, prefix=f".fetching-{entry.name}-") as scratch:
            staging = Path(scratch)
            _checkout(entry, url, staging / "checkout", where)
            _apply_patch(entry, staging / "checkout", root)
            _select(entry, staging / "checkout", staging / entry.name)
            digest, count = folder_digest(staging / entry.name, entry.ignore)
            if digest != entry.digest:
                raise ThirdPartyError(f"{entry.name}: what {where} gave at {entry.ref[:12]} does not match the lock "
                                      f"(digest {digest[:19]}..., the lock has {entry.digest[:19]}...); nothing "
                                      "was installed")
            (staging / entry.name).rename(root / entry.name)
            say(f"{entry.name}: {count} files, digest verified")
        report.fetched.append(entry.name)
    return report
