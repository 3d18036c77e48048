"""A local directory as a spec source, watched with watchdog; bursts of changes are debounced
into one notification (an editor's save writes several files and temporaries)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from controller.loading.repository import MAX_FILE_BYTES, spec_files
from controller.sources.snapshot import Snapshot, Text, content_revision
from specs.errors import UsageError


class LocalSource:
    def __init__(self, path: str | Path, *, debounce: float = 0.5) -> None:
        self.path = Path(path).resolve()
        self.debounce = debounce
        self.description = str(self.path)

    def fetch(self) -> Snapshot:
        if not self.path.exists():
            raise UsageError(f"{self.path}: no such file or directory")
        texts: list[Text] = []
        for file in spec_files(self.path):
            shown = str(file.relative_to(self.path)) if self.path.is_dir() else file.name
            try:
                if file.stat().st_size > MAX_FILE_BYTES:
                    texts.append((shown, None, f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB"))
                    continue
                texts.append((shown, file.read_bytes().decode("utf-8"), None))
            except UnicodeDecodeError as err:
                texts.append((shown, None, f"not UTF-8 text: {err.reason}"))
            except OSError as err:  # deleted between listing and reading: the next event catches up
                texts.append((shown, None, f"cannot read: {err.strerror}"))
        snapshot_texts = tuple(texts)
        root = self.path if self.path.is_dir() else self.path.parent
        return Snapshot(content_revision(snapshot_texts), self.description, snapshot_texts, root)

    def materialize(self, snapshot: Snapshot) -> Path:
        return snapshot.root

    def watch(self, changed: Callable[[], None], stop: threading.Event) -> None:
        debouncer = _Debouncer(self.debounce, changed)
        observer = Observer()
        observer.schedule(debouncer, str(self.path if self.path.is_dir() else self.path.parent), recursive=True)
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
