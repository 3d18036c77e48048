"""A local directory as a spec source, watched with watchdog; bursts of changes are debounced
into one notification (an editor's save writes several files and temporaries).

The revision is the digest of the whole tree (specs, data files, modules). With a `workdir`, each
revision is copied there before anything reads it, so a pass builds from one consistent tree while
the user keeps editing; without one (`origami validate`, `plan` and `build` on a working copy), the
directory itself is the revision's tree.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from controller.sources.revision import Revision
from controller.sources.tree import Budget
from controller.sources.tree import Entry
from controller.sources.tree import TreeDigest
from controller.sources.tree import materialize
from controller.sources.tree import prune
from controller.sources.tree import revision_dir
from controller.sources.tree import walk
from specs.errors import UsageError


class LocalSource:
    def __init__(self, path: str | Path, *, workdir: str | Path | None = None, debounce: float = 0.5,
                 budget: Budget = Budget()) -> None:
        self.path = Path(path).resolve()
        self.workdir = Path(workdir) if workdir is not None else None
        self.debounce = debounce
        self.budget = budget
        self.description = str(self.path)
        self._digest = TreeDigest()
        self._lock = threading.Lock()

    @property
    def _trees(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "revisions"

    def fetch(self) -> Revision:
        if not self.path.is_dir():
            raise UsageError(f"{self.path}: no such directory (a spec repository is a directory)")
        with self._lock:
            revision = "local:" + self._digest.of(self.path, self.budget)
            if self.workdir is None:
                return Revision(revision, self.description, self.path)
            root = materialize(self._entries(), revision_dir(self._trees, revision), self.budget)
            return Revision(revision, self.description, root)

    def revision(self, revision_id: str) -> Revision | None:
        if self.workdir is None:
            current = self.fetch()
            return current if current.id == revision_id else None
        root = revision_dir(self._trees, revision_id)
        return Revision(revision_id, self.description, root) if root.is_dir() else None

    def _entries(self):
        for relative, info in walk(self.path):
            path = self.path / relative
            if path.is_symlink():
                yield Entry(relative, link=str(path.readlink()))
            else:
                yield Entry(relative, executable=bool(info.st_mode & 0o111), size=info.st_size,
                            open=lambda path=path: open(path, "rb"))  # noqa: SIM115  (used in a with)

    def prune(self, keep: set[str]) -> None:
        if self.workdir is not None:
            prune(self._trees, {revision_dir(self._trees, r) for r in keep})

    def watch(self, changed: Callable[[], None], stop: threading.Event) -> None:
        debouncer = _Debouncer(self.debounce, changed)
        observer = Observer()
        observer.schedule(debouncer, str(self.path), recursive=True)
        observer.start()
        try:
            stop.wait()
        finally:
            debouncer.cancel()
            observer.stop()
            observer.join(5)


class _Debouncer(FileSystemEventHandler):
    """Calls back once, `delay` seconds after the last of a burst of file events."""

    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay = delay
        self.callback = callback
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        with self._lock:
            if self._timer:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self.callback)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer:
                self._timer.cancel()
