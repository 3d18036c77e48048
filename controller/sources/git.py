"""A git repository as a spec source: a bare clone fetched on an interval and on demand; each commit
is materialized as its whole tree (specs, data files, modules) under `<workdir>/revisions/<sha>`,
first commit included, before anything reads it.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import git

from controller.sources.revision import Revision
from controller.sources.tree import Budget
from controller.sources.tree import Entry
from controller.sources.tree import materialize
from controller.sources.tree import prune
from controller.sources.tree import revision_dir
from specs.errors import SourceError
from wire.logs import get_logger

log = get_logger("sources.git")

_SYMLINK, _EXECUTABLE = 0o120000, 0o100755


class GitSource:
    def __init__(self, url: str, workdir: str | Path, *, branch: str = "main", path: str = "",
                 interval: float = 60.0, budget: Budget = Budget()) -> None:
        self.url = url
        self.workdir = Path(workdir)
        self.branch = branch
        self.path = path.strip("/")
        self.interval = interval
        self.budget = budget
        self.description = f"{url}@{branch}" + (f":{self.path}" if self.path else "")
        self._kick = threading.Event()
        self._lock = threading.Lock()

    @property
    def _clone(self) -> Path:
        return self.workdir / "clone.git"

    @property
    def _trees(self) -> Path:
        return self.workdir / "revisions"

    def _repo(self) -> git.Repo:
        try:
            if (self._clone / "HEAD").exists():
                return git.Repo(self._clone)
            self.workdir.mkdir(parents=True, exist_ok=True)
            log.info("cloning", extra={"url": self.url})
            return git.Repo.clone_from(self.url, self._clone, bare=True, mirror=False)
        except git.GitCommandError as err:
            raise SourceError(f"cannot clone {self.url}: {_stderr(err)}; check the URL and that this machine "
                              "can reach it") from err

    def fetch(self) -> Revision:
        with self._lock:
            repo = self._repo()
            try:
                repo.git.fetch("origin", f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}",
                               "--prune")
                commit = repo.commit(f"origin/{self.branch}")
            except git.GitCommandError as err:
                if "couldn't find remote ref" in (err.stderr or ""):
                    raise SourceError(f"{self.url} has no branch '{self.branch}'; pass --branch") from err
                raise SourceError(f"cannot fetch {self.url}: {_stderr(err)}") from err
            except (git.BadName, ValueError) as err:
                raise SourceError(f"{self.url} has no branch '{self.branch}'; pass --branch") from err
            return self._materialize(commit)

    def revision(self, revision_id: str) -> Revision | None:
        with self._lock:
            try:
                return self._materialize(self._repo().commit(revision_id))
            except (git.BadName, ValueError, git.GitCommandError):
                return None

    def _materialize(self, commit: git.Commit) -> Revision:
        tree = commit.tree
        if self.path:
            try:
                tree = tree / self.path
            except KeyError as err:
                raise SourceError(f"{self.path}: no such directory in {self.url} at {commit.hexsha[:12]}; "
                                  "check --path") from err
        root = materialize(_entries(tree), revision_dir(self._trees, commit.hexsha), self.budget)
        summary = commit.summary if isinstance(commit.summary, str) else commit.summary.decode()
        return Revision(commit.hexsha, self.description, root, summary)

    def prune(self, keep: set[str]) -> None:
        """Remove materialized revisions no longer needed (the git objects stay in the clone)."""
        prune(self._trees, {revision_dir(self._trees, r) for r in keep})

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


def _entries(tree: git.Tree) -> Iterator[Entry]:
    prefix = len(tree.path) + 1 if tree.path else 0
    for item in tree.traverse():
        if item.type != "blob":
            continue  # trees are created with their files; submodules are not followed
        relative = item.path[prefix:]
        if item.mode == _SYMLINK:
            yield Entry(relative, link=item.data_stream.read().decode("utf-8", "replace"))
        else:
            yield Entry(relative, executable=item.mode == _EXECUTABLE, size=item.size,
                        open=lambda item=item: contextlib.nullcontext(item.data_stream))


def _stderr(err: git.GitCommandError) -> str:
    text = (err.stderr or "").strip().replace("stderr: ", "")
    return text.splitlines()[-1] if text else f"git exited with {err.status}"
