"""Artifacts published where devices fetch them over HTTP: any static server or CDN (docs/scale.md).

The controller signs what devices install; the server only serves bytes. A desired state names the
URL beside the signed manifest, and the device checks size and sha256 before installing, so a server
(or a cache in between) that serves something else gets nothing installed.

`DirectoryPublisher` copies an artifact into a directory that a static server (nginx, a CDN origin,
an object-store sync) serves under a base URL, as `<base>/<sha256>`: content-addressed names never
change meaning, so the files can be cached forever. It is what the controller's
`--artifact-publish-dir DIR --artifact-base-url URL` configure.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Protocol

from specs.errors import StoreError
from specs.errors import UsageError
from wire.files import disk_full_error
from wire.files import is_disk_full

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_BASE_URL = re.compile(r"^https?://[!-~]+$")


class ArtifactPublisher(Protocol):
    def publish(self, digest: str) -> str:
        """Make the artifact `digest` fetchable; return its URL."""
        ...


class ArtifactSource(Protocol):
    def path(self, digest: str) -> Path: ...


class DirectoryPublisher:
    """Publishes artifacts of `store` into `directory`, served by a static HTTP server as `base_url`."""

    def __init__(self, directory: str | os.PathLike, base_url: str, store: ArtifactSource) -> None:
        if not _BASE_URL.match(base_url) or len(base_url) > 1900:
            raise UsageError("--artifact-base-url takes an http:// or https:// URL without spaces "
                             "(e.g. https://cdn.example/origami)")
        self.directory = Path(directory)
        self.base_url = base_url.rstrip("/")
        self.store = store
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the artifact publish directory: {err.strerror}") from err
        self._published: set[str] = set()  # a pass publishing again what it published costs nothing

    def url(self, digest: str) -> str:
        return f"{self.base_url}/{digest}"

    def publish(self, digest: str) -> str:
        if not _DIGEST.match(digest):
            raise ValueError("an artifact digest is 64 lowercase hex digits")
        if digest not in self._published:
            source = self.store.path(digest)
            target = self.directory / digest
            if not target.exists() or target.stat().st_size != source.stat().st_size:
                self._copy(source, target)
            self._published.add(digest)
        return self.url(digest)

    def _copy(self, source: Path, target: Path) -> None:
        """Written beside the target then renamed: the server never serves half a file under its name."""
        tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o644)  # the server's user reads it
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            if is_disk_full(err):
                raise disk_full_error("the artifact publish directory") from err
            raise StoreError(f"cannot publish artifact {target.name[:12]}: {err.strerror or err}") from err
