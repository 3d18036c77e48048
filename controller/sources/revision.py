"""What a source hands the loop: one revision of the spec repository, materialized as a whole tree.

Specs, data files and Python modules of one revision sit together under `Revision.root`, so every
stage reads exactly the commit it was planned from, also on the first commit; nothing reads the
source's live working copy while a pass runs.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.loading import SpecRepository
from controller.loading import load_repository


@dataclass(frozen=True)
class Revision:
    id: str  # a git commit SHA, or "local:<digest of the tree>"
    source: str  # where it came from, for status and events
    root: Path  # the materialized tree of this revision: specs, data files, modules
    summary: str = ""  # the commit's first line, when there is one

    @property
    def short(self) -> str:
        return self.id.split(":")[-1][:12]


def load_revision(revision: Revision, limits: Limits = DEFAULT_LIMITS) -> SpecRepository:
    """Load and validate a revision's specs against its own tree (data paths resolve inside it)."""
    return load_repository(revision.root, limits)


class SpecSource(Protocol):
    """A git repository or a local directory, as the loop sees it."""

    description: str

    def fetch(self) -> Revision:
        """The current revision, materialized (network or disk I/O; raises SourceError)."""

    def revision(self, revision_id: str) -> Revision | None:
        """A revision seen before, materialized again if it was pruned; None when it is gone."""

    def watch(self, changed: Callable[[], None], stop: threading.Event) -> None:
        """Call `changed()` whenever a new revision may exist, until `stop` is set (runs in a thread)."""

    def prune(self, keep: set[str]) -> None:
        """Remove materialized revisions other than `keep` and the most recent few."""
