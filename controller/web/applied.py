"""The spec repository the controller last applied, re-loaded from the state store (cached per commit).

The dashboard needs a few spec facts that status does not carry (a fleet's selector for its members,
the boards' RAM for the model card); it reads them from the last good commit, never from disk.
"""
from __future__ import annotations

import threading
from pathlib import Path

from controller.loading import SpecRepository
from controller.loading import load_texts
from controller.state import StateStore

_lock = threading.Lock()
_cache: dict[tuple[str, str], SpecRepository] = {}


def applied_specs(store: StateStore) -> SpecRepository | None:
    """The last good commit's repository, or None before the first valid commit."""
    _, good = store.source_state()
    if good is None:
        return None
    key = (str(store.path), good)
    with _lock:
        if key in _cache:
            return _cache[key]
    record = store.commit(good)
    if record is None or record.texts is None:
        return None
    repo = load_texts([(name, text, None) for name, text in record.texts], SpecRepository(root=Path(".")))
    with _lock:
        _cache.clear()  # one commit per store is enough
        _cache[key] = repo
    return repo
