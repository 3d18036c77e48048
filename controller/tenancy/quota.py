"""A tenant's storage limit (`limits.storage`), enforced where storage grows: before each build.

`StorageQuota` wraps the tenant's builder. Reads pass through; a build starts only while the
tenant's artifact store holds less than its limit, else it fails as a stage error that says how
full the store is and what to do (the loop retries it with backoff, so it builds once `origami gc`
or a raised limit makes room). One tenant filling the disk thus stops its own builds, not another's.
"""
from __future__ import annotations

from typing import Any

from specs.errors import StageError


def store_bytes(store: Any) -> int:
    """What the artifact store's files take (stage records, artifacts, metadata)."""
    return sum(stat.st_size for _, _, stat in store.files())


class StorageQuota:
    def __init__(self, builder: Any, tenant: str, limit_bytes: int) -> None:
        self._builder, self.tenant, self.limit_bytes = builder, tenant, limit_bytes

    def __getattr__(self, name: str) -> Any:  # reads, stores and settings: the builder's own
        return getattr(self._builder, name)

    def _check(self, what: str) -> None:
        used = store_bytes(self._builder.store)
        if used >= self.limit_bytes:
            raise StageError(f"tenant {self.tenant}: its artifacts take {used / 2**20:.1f} MiB of its "
                             f"{self.limit_bytes / 2**20:.1f} MiB storage limit, so {what} waits; run `origami gc` "
                             "on its state directory or raise limits.storage in the tenants file")

    def build_model(self, repo: Any, model: str, keys: Any, progress: Any) -> Any:
        self._check(f"Model/{model}'s build")
        return self._builder.build_model(repo, model, keys, progress)

    def build_bundle(self, repo: Any, fleet: str, board: str, key: str, outcome: Any, progress: Any) -> Any:
        self._check(f"Fleet/{fleet}'s {board} bundle")
        return self._builder.build_bundle(repo, fleet, board, key, outcome, progress)
