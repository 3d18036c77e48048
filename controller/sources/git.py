"""A git repository as a spec source: clone once, fetch on an interval and on demand, read the
spec files of a branch (and a path inside it) straight from the commit, without a checkout.

Only a commit that validates is checked out (for the data files its specs name), so an invalid
commit never touches what is on disk.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import git

from controller.loading.repository import MAX_FILE_BYTES, SPEC_SUFFIXES
from controller.sources.snapshot import Snapshot, Text
from specs.errors import SourceError
from wire.logs import get_logger

log = get_logger("sources.git")


class GitSource:
    def __init__(self, url: str, workdir: str | Path, *, branch: str = "main", path: str = "",
                 interval: float = 60.0) -> None:
        self.url = url
        self.workdir = Path(workdir)
        self.branch = branch
        self.path = path.strip("/")
        self.interval = interval
        self.description = f"{url}@{branch}" + (f":{self.path}" if self.path else "")
        self._kick = threading.Event()
        self._lock = threading.Lock()

    def _repo(self) -> git.Repo:
        try:
            if (self.workdir / ".git").exists():
                return git.Repo(self.workdir)
            self.workdir.parent.mkdir(parents=True, exist_ok=True)
            log.info("cloning", extra={"url": self.url, "into": str(self.workdir)})
            return git.Repo.clone_from(self.url, self.workdir, no_checkout=True)
        except git.GitCommandError as err:
            raise SourceError(f"cannot clone {self.url}: {err.stderr.strip() or err}; check the URL and "
                              "that this machine can reach it") from err

    def fetch(self) -> Snapshot:
        with self._lock:
            repo = self._repo()
            try:
                repo.remotes.origin.fetch(prune=True)
                commit = repo.commit(f"origin/{self.branch}")
            except git.GitCommandError as err:
                raise SourceError(f"cannot fetch {self.url}: {err.stderr.strip() or err}") from err
            except (git.BadName, ValueError) as err:
                raise SourceError(f"{self.url} has no branch '{self.branch}'; pass --branch") from err
            texts = tuple(self._read(commit))
            return Snapshot(commit.hexsha, self.description, texts, self.workdir / self.path,
                            commit.summary if isinstance(commit.summary, str) else commit.summary.decode())

    def _read(self, commit: git.Commit) -> list[Text]:
        tree = commit.tree
        if self.path:
            try:
                tree = tree / self.path
            except KeyError as err:
                raise SourceError(f"{self.path}: no such directory in {self.url} at "
                                  f"{commit.hexsha[:12]}; check --path") from err
        texts: list[Text] = []
        for item in tree.traverse():
            rel = item.path[len(self.path) + 1:] if self.path else item.path
            if item.type != "blob" or not rel.endswith(SPEC_SUFFIXES):
                continue
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            if item.size > MAX_FILE_BYTES:
                texts.append((rel, None, f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB"))
                continue
            try:
                texts.append((rel, item.data_stream.read().decode("utf-8"), None))
            except UnicodeDecodeError as err:
                texts.append((rel, None, f"not UTF-8 text: {err.reason}"))
        return sorted(texts)

    def materialize(self, snapshot: Snapshot) -> Path:
        with self._lock:
            repo = self._repo()
            if not repo.head.is_valid() or repo.head.commit.hexsha != snapshot.revision:
                repo.git.checkout("--detach", "--force", snapshot.revision)
        return snapshot.root

    def trigger(self) -> None:
        """Fetch now instead of at the next interval (a webhook, an operator)."""
        self._kick.set()

    def watch(self, changed: Callable[[], None], stop: threading.Event) -> None:
        while not stop.is_set():
            self._kick.wait(self.interval)
            self._kick.clear()
            if not stop.is_set():
                changed()
            time.sleep(0)
