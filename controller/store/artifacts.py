"""A content-addressed artifact store on a local directory.

Layout under the root (default `.origami/artifacts` in the working directory):
`objects/ab/<sha256>` holds the bytes, `meta/<sha256>.json` their metadata (kind,
media type, what produced them). Writes go to a temporary file and are renamed into
place, so a killed process never leaves a half-written artifact under its digest.
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

DEFAULT_ROOT = Path(".origami") / "artifacts"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20




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
            raise StoreError(f"cannot create the artifact store at {self.root}: {err.strerror}") from err

    # --- writing ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes, metadata: dict | None = None) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self._object(digest)
        if not target.exists():
            atomic_write(target, data)
        self._merge_metadata(digest, metadata or {}, len(data))
        return digest

    def put_file(self, path: str | os.PathLike, metadata: dict | None = None) -> str:
        """Copy a file in, hashing while copying (no second read)."""
        hasher = hashlib.sha256()
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root / "objects", prefix=".tmp-")
        size = 0
        try:
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
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise StoreError(f"cannot store {path}: {err.strerror}") from err
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

    # --- internals --------------------------------------------------------------------------
    def _object(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest

    def _merge_metadata(self, digest: str, metadata: dict, size: int) -> None:
        current = self.metadata(digest)
        merged = {**current, **metadata, "size": size}
        if merged != current:
            atomic_write(self.root / "meta" / f"{digest}.json",
                         json.dumps(merged, sort_keys=True, indent=2, default=str).encode())
