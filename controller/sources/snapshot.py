"""What a source hands the loop: one revision of the spec files, read without side effects."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.loading import SpecRepository, load_texts

Text = tuple[str, str | None, str | None]  # (display name, text or None, read error or None)


@dataclass(frozen=True)
class Snapshot:
    revision: str  # a git commit SHA, or "local:<digest of the files>"
    source: str  # where it came from, for status and events
    texts: tuple[Text, ...]
    root: Path  # the directory data paths are relative to (a checkout of the revision)
    summary: str = ""  # the commit's first line, when there is one

    @property
    def short(self) -> str:
        return self.revision.split(":")[-1][:12]


def content_revision(texts: tuple[Text, ...]) -> str:
    h = hashlib.sha256()
    for name, text, error in sorted(texts, key=lambda t: t[0]):
        h.update(f"{name}\0{text or ''}\0{error or ''}\0".encode())
    return "local:" + h.hexdigest()


def load_snapshot(snapshot: Snapshot) -> SpecRepository:
    """Validate a snapshot as one spec repository rooted at its checkout."""
    return load_texts(list(snapshot.texts), SpecRepository(root=snapshot.root))


class SpecSource(Protocol):
    """A git repository or a local directory, as the loop sees it."""

    description: str

    def fetch(self) -> Snapshot:
        """The current revision (network or disk I/O; raises SourceError)."""

    def watch(self, changed: Callable[[], None], stop: threading.Event) -> None:
        """Call `changed()` whenever a new revision may exist, until `stop` is set (runs in a thread)."""

    def materialize(self, snapshot: Snapshot) -> Path:
        """Make the snapshot's files available on disk (for data files the specs name); its root."""
