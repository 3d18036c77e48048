"""The loop's first phase: *fetch* the source's current revision, *validate* it, record it, and keep
the last good revision in force when the newest one does not validate (or cannot be fetched)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.loading import SpecRepository
from controller.loading.repository import MAX_FILE_BYTES
from controller.loading.repository import spec_files
from controller.reconciler.conditions import with_conditions
from controller.sources import Revision
from controller.sources import SpecSource
from controller.sources import load_revision
from controller.state import ObjectStatus
from controller.state import StateStore
from specs.errors import OrigamiError
from specs.errors import SourceError
from specs.v1alpha1.status import SourceStatus
from wire.logs import get_logger

log = get_logger("reconciler.revisions")


def spec_texts(root: Path) -> list[tuple[str, str]]:
    """The spec files of a tree as (relative name, text): kept with the commit record so that the
    dashboard can show what was applied."""
    texts = []
    for path in spec_files(root):
        try:
            if path.is_symlink() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            texts.append((path.relative_to(root).as_posix(), path.read_text("utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return texts


class RevisionTracker:
    def __init__(self, store: StateStore, source: SpecSource, limits: Limits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.source = source
        self.limits = limits
        self._loaded: tuple[Revision, SpecRepository] | None = None

    def current(self, now: float) -> tuple[Revision | None, SpecRepository | None]:
        """The revision in force and its validated specs (None before the first valid one)."""
        try:
            revision = self.source.fetch()
        except (SourceError, OrigamiError) as err:
            self._status(False, "FetchFailed", str(err), now)
            return self.last_good()
        known = self.store.commit(revision.id)
        if known is None:
            repo = load_revision(revision, self.limits)
            issues = [str(i) for i in repo.issues]
            with self.store.transaction():
                self.store.record_commit(revision.id, revision.source, repo.valid, issues,
                                         spec_texts(revision.root) if repo.valid else None)
                if repo.valid:
                    self.store.emit("Source", "specs", "CommitObserved",
                                    f"{revision.short} valid: {revision.summary or 'no message'}", commit=revision.id)
                else:
                    self.store.emit("Source", "specs", "CommitInvalid",
                                    f"{revision.short} does not validate ({len(issues)} error(s)); keeping the "
                                    f"last good commit. First: {issues[0]}", warning=True, commit=revision.id)
            if repo.valid:
                self._loaded = (revision, repo)
            known = self.store.commit(revision.id)
        elif known.valid and (self._loaded is None or self._loaded[0].id != revision.id):
            self._loaded = (revision, load_revision(revision, self.limits))
        assert known is not None
        if known.valid:
            self._status(True, "Fetched", f"at {revision.short}", now, revision=revision.id)
        else:
            self._status(False, "CommitInvalid", f"{revision.short}: " + "; ".join(known.issues[:3]), now,
                         revision=revision.id)
        return self.last_good()

    def last_good(self) -> tuple[Revision | None, SpecRepository | None]:
        _, good = self.store.source_state()
        if good is None:
            return None, None
        if self._loaded and self._loaded[0].id == good:
            return self._loaded
        revision = self.source.revision(good)  # after a restart on an invalid head
        if revision is None:
            log.warning("the last good revision is no longer available from the source", extra={"revision": good})
            return None, None
        repo = load_revision(revision, self.limits)
        if not repo.valid:  # the tree changed under us (a local directory): do not act on it
            return None, None
        self._loaded = (revision, repo)
        return self._loaded

    def in_use(self) -> set[str]:
        """Revisions that must stay materialized: the last observed and the last good."""
        return {r for r in self.store.source_state() if r}

    def _status(self, ok: bool, reason: str, message: str, now: float, revision: str | None = None) -> None:
        old = self.store.object("Source", "specs") or ObjectStatus("Source", "specs")
        _, good = self.store.source_state()
        new = with_conditions(replace(old, observed_commit=revision or old.observed_commit,
                                      last_error=None if ok else message,
                                      detail=SourceStatus(source=self.source.description, last_good=good)),
                              now, ready=(ok, reason, message), stalled=(not ok, reason, "" if ok else message))
        if new.conditions != old.conditions or new.observed_commit != old.observed_commit or \
                new.detail != old.detail:
            self.store.put_object(new)
