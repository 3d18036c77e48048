"""The stage cache: which stage key produced which outputs, so a stage never runs twice.

A stage key hashes the stage's spec section, the digests (or keys) of its inputs and
the versions of the tools that shape its output (TensorFlow, the converter, TFLM).
Records are small JSON files under `<store root>/../stages/<kind>/<key>.json`; a record
whose output artifacts have vanished from the store is treated as a miss.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from controller.store.artifacts import ArtifactStore
from specs.errors import StoreError
from wire.files import atomic_write
from wire.logs import get_logger

log = get_logger("store.stage_cache")


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def stage_key(kind: str, spec: dict, inputs: dict[str, str], tools: dict[str, str]) -> str:
    """sha256 over the stage kind, its spec section, its input digests and tool versions."""
    payload = canonical_json({"kind": kind, "spec": spec, "inputs": inputs, "tools": tools})
    return hashlib.sha256(payload.encode()).hexdigest()


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
        atomic_write(self._path(key), json.dumps(body, sort_keys=True, indent=2, default=str).encode())
        return record

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
