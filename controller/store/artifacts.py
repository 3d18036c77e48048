"""A content-addressed artifact store on a local directory.

Layout under the root (default `.origami/artifacts` in the working directory):
`objects/ab/<sha256>` holds the bytes, `meta/<sha256>.json` their metadata (kind,
media type, what produced them). Writes go to a temporary file and are renamed into
place, so a killed process never leaves a half-written artifact under its digest, and a full disk
raises `StorageError` with nothing half-written left behind.

Garbage collection (`controller.store.gc`) deletes by age and reachability: writing content the
store already holds refreshes the object's mtime, so a build that reuses an old artifact is inside
the collector's grace period like one that wrote a new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from specs.errors import StoreError
from wire.files import atomic_write
from wire.files import disk_full_error
from wire.files import is_disk_full

DEFAULT_ROOT = Path(".origami") / "artifacts"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
TEMP_PREFIX = ".tmp-"  # in-flight writes (atomic_write and put_file use it); never an artifact


def _write_failed(what: str, err: OSError) -> StoreError:
    if is_disk_full(err):
        return disk_full_error(what)
    return StoreError(f"cannot write {what}: {err.strerror or err}")


@dataclass(frozen=True)
class ArtifactInfo:
    digest: str
    size: int
    metadata: dict

    def to_dict(self) -> dict:
        return {"digest": self.digest, "size": self.size, "metadata": self.metadata}


class ArtifactStore:
    """Bytes addressed by their sha256 (hex); the same content is stored once."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else Path.cwd() / DEFAULT_ROOT
        try:
            (self.root / "objects").mkdir(parents=True, exist_ok=True)
            (self.root / "meta").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            if is_disk_full(err):
                raise disk_full_error("the artifact store") from err
            raise StoreError(f"cannot create the artifact store at {self.root}: {err.strerror}") from err

    # --- writing ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes, metadata: dict | None = None) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self._object(digest)
        try:
            if not _touch(target):
                atomic_write(target, data)
        except OSError as err:
            raise _write_failed(f"artifact {digest[:12]}", err) from err
        self._merge_metadata(digest, metadata or {}, len(data))
        return digest

    def put_file(self, path: str | os.PathLike, metadata: dict | None = None) -> str:
        """Copy a file in, hashing while copying (no second read)."""
        hasher = hashlib.sha256()
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        size = 0
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root / "objects", prefix=TEMP_PREFIX)
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            digest = hasher.hexdigest()
            target = self._object(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except OSError as err:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
            raise _write_failed(f"the artifact from {Path(path).name}", err) from err
        self._merge_metadata(digest, metadata or {}, size)
        return digest

    def put_json(self, value, metadata: dict | None = None) -> str:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return self.put_bytes(data, {"media_type": "application/json", **(metadata or {})})

    # --- reading ----------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return _DIGEST.match(digest or "") is not None and self._object(digest).is_file()

    def path(self, digest: str) -> Path:
        """The file holding an artifact (read it; never write to it)."""
        if not self.exists(digest):
            raise StoreError(f"artifact {digest[:12] if digest else digest!r} is not in the store at {self.root}; "
                             "run `origami build` to produce it")
        return self._object(digest)

    def open(self, digest: str) -> BinaryIO:
        return open(self.path(digest), "rb")

    def read_bytes(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def read_json(self, digest: str):
        return json.loads(self.read_bytes(digest))

    def metadata(self, digest: str) -> dict:
        path = self.root / "meta" / f"{digest}.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise StoreError(f"metadata of artifact {digest[:12]} is unreadable: {err}") from err

    def resolve(self, prefix: str) -> str:
        """A full digest from a unique prefix (as `origami artifacts show` accepts)."""
        if _DIGEST.match(prefix):
            return prefix
        matches = [info.digest for info in self.list() if info.digest.startswith(prefix)]
        if not matches:
            raise StoreError(f"no artifact in {self.root} starts with {prefix!r}; "
                             "list them with `origami artifacts ls`")
        if len(matches) > 1:
            raise StoreError(f"{len(matches)} artifacts start with {prefix!r}; give more digits")
        return matches[0]

    def list(self) -> Iterator[ArtifactInfo]:
        for bucket in sorted((self.root / "objects").glob("??")):
            for obj in sorted(bucket.iterdir()):
                if _DIGEST.match(obj.name):
                    yield ArtifactInfo(obj.name, obj.stat().st_size, self.metadata(obj.name))

    # --- what garbage collection needs ------------------------------------------------------
    def files(self) -> Iterator[tuple[str, Path, os.stat_result]]:
        """Every file the store holds, without reading any: ("object", path, stat) for an artifact
        (its name is its digest), ("meta", ...) for a metadata file, ("temp", ...) for an in-flight or
        abandoned write, ("other", ...) for anything else."""
        for sub in ("objects", "meta"):
            top = self.root / sub
            for path in _walk(top):
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue  # deleted meanwhile (another writer's temp file renamed into place)
                name = path.name
                if name.startswith(TEMP_PREFIX):
                    kind = "temp"
                elif sub == "objects" and _DIGEST.match(name) and path.parent.name == name[:2]:
                    kind = "object"
                elif sub == "meta" and name.endswith(".json") and _DIGEST.match(name[:-5]):
                    kind = "meta"
                else:
                    kind = "other"
                yield kind, path, info

    def references(self, digest: str) -> list[str]:
        """The digests and stage keys an artifact's metadata names (a TFLite model its Keras model,
        that its dataset snapshot and its stage key): what keeping it keeps too."""
        try:
            metadata = self.metadata(digest)
        except StoreError:
            return []
        return [v for v in metadata.values() if isinstance(v, str) and _DIGEST.match(v)]

    def remove(self, digest: str) -> int:
        """Delete an artifact and its metadata; the bytes freed (0 when it was not there)."""
        freed = 0
        for path in (self._object(digest), self.root / "meta" / f"{digest}.json"):
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
        return freed

    # --- internals --------------------------------------------------------------------------
    def _object(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest

    def _merge_metadata(self, digest: str, metadata: dict, size: int) -> None:
        current = self.metadata(digest)
        merged = {**current, **metadata, "size": size}
        if merged != current:
            try:
                atomic_write(self.root / "meta" / f"{digest}.json",
                             json.dumps(merged, sort_keys=True, indent=2, default=str).encode())
            except OSError as err:
                raise _write_failed(f"the metadata of artifact {digest[:12]}", err) from err


def _touch(path: Path) -> bool:
    """Refresh an existing file's mtime (it is in use again); False when it does not exist."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False


def _walk(top: Path) -> Iterator[Path]:
    """Files under `top` (two levels at most: the store's layout), skipping what vanishes meanwhile."""
    try:
        entries = list(os.scandir(top))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            try:
                yield from (Path(e.path) for e in os.scandir(entry.path) if e.is_file(follow_symlinks=False))
            except FileNotFoundError:
                continue
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)
