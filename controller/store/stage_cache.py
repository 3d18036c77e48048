"""The stage cache: which stage key produced which outputs, so a stage never runs twice.

Keys come from `controller.planning.keys.stage_key` (the one key function: the stage's spec section,
the digests of its inputs, the tools' versions). Records are small JSON files under
`<store root>/../stages/<key[:2]>/<key>.json`; a record whose output artifacts have vanished from the
store is treated as a miss. A record's file mtime is when its stage ran (a hit writes nothing), which
is how garbage collection (`controller.store.gc`) finds the last builds.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from controller.store.artifacts import ArtifactStore
from specs.errors import StoreError
from wire.files import atomic_write
from wire.files import disk_full_error
from wire.files import is_disk_full
from wire.logs import get_logger

log = get_logger("store.stage_cache")
_RECORD = re.compile(r"^([0-9a-f]{64})\.json$")


@dataclass
class StageRecord:
    kind: str
    key: str
    outputs: dict[str, str]               # role -> artifact digest
    result: dict = field(default_factory=dict)  # small JSON figures (metrics, sizes)
    cached: bool = False                  # True when this run reused the record

    def to_dict(self) -> dict:
        return asdict(self)


class StageCache:
    """Stage records keyed by stage key, with per-kind execution counts for this process."""

    def __init__(self, store: ArtifactStore, root: str | os.PathLike | None = None) -> None:
        self.store = store
        self.root = Path(root) if root is not None else store.root.parent / "stages"
        self.executions: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the stage cache at {self.root}: {err.strerror}") from err

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> StageRecord | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            log.warning("unreadable stage record; the stage will run again", extra={"key": key})
            return None
        record = StageRecord(kind=raw["kind"], key=raw["key"], outputs=raw["outputs"], result=raw["result"])
        if not all(self.store.exists(d) for d in record.outputs.values()):
            log.warning("stage outputs missing from the store; the stage will run again",
                        extra={"key": key, "kind": record.kind})
            return None
        return record

    def is_cached(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, kind: str, key: str, outputs: dict[str, str], result: dict | None = None) -> StageRecord:
        record = StageRecord(kind=kind, key=key, outputs=dict(outputs), result=dict(result or {}))
        body = {"kind": kind, "key": key, "outputs": record.outputs, "result": record.result}
        try:
            atomic_write(self._path(key), json.dumps(body, sort_keys=True, indent=2, default=str).encode())
        except OSError as err:
            if is_disk_full(err):
                raise disk_full_error(f"the {kind} stage record {key[:12]}") from err
            raise StoreError(f"cannot write the {kind} stage record {key[:12]}: {err.strerror or err}") from err
        return record

    # --- what garbage collection needs ------------------------------------------------------
    def files(self) -> Iterator[tuple[str | None, os.stat_result, os.PathLike]]:
        """(stage key, stat, path) of every file under the cache's root; key None for a file that is
        not a record (an abandoned temporary file, say)."""
        for bucket in sorted(self.root.glob("??")):
            try:
                entries = list(os.scandir(bucket))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                match = _RECORD.match(entry.name)
                yield (match.group(1) if match else None), info, Path(entry.path)

    def raw(self, key: str) -> dict | None:
        """A record as written, whether or not its outputs are still in the store; None if unreadable."""
        try:
            raw = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return raw if isinstance(raw, dict) else None

    def remove(self, key: str) -> int:
        """Delete a record; the bytes freed."""
        path = self._path(key)
        try:
            size = path.stat().st_size
            path.unlink()
            return size
        except FileNotFoundError:
            return 0

    def run(self, kind: str, key: str,
            compute: Callable[[], tuple[dict[str, str], dict]]) -> StageRecord:
        """The cached record for `key`, or compute (outputs, result), record it and count one execution."""
        record = self.get(key)
        if record is not None:
            self.hits[kind] += 1
            record.cached = True
            log.info("stage cached", extra={"kind": kind, "key": key[:12]})
            return record
        self.executions[kind] += 1
        log.info("stage running", extra={"kind": kind, "key": key[:12]})
        outputs, result = compute()
        return self.put(kind, key, outputs, result)


class NotBuilt(LookupError):
    """A stage that a cache-only read needed has not run (its outputs are not in the store)."""


class CachedOnly:
    """A read-only view of a StageCache: `run` returns the record or raises NotBuilt, never computes.
    Lets the controller read a model's figures back from its records without TensorFlow. With
    `count_hits`, each record read counts as a hit of the underlying cache (a stage reused)."""

    def __init__(self, cache: StageCache, *, count_hits: bool = False) -> None:
        self.cache = cache
        self.store = cache.store
        self.count_hits = count_hits
        self.executions: Counter[str] = Counter()

    def is_cached(self, key: str) -> bool:
        return self.cache.is_cached(key)

    def run(self, kind: str, key: str, compute: Callable[[], tuple[dict[str, str], dict]]) -> StageRecord:
        record = self.cache.get(key)
        if record is None:
            raise NotBuilt(f"{kind} {key[:12]}")
        record.cached = True
        if self.count_hits:
            self.cache.hits[kind] += 1
        return record
