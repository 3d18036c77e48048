"""Bounded storage: what garbage collection must keep (its roots, from the state store and the plan),
and the loop's housekeeping after a pass (collect garbage, forget devices long gone), at most every
`every_s` seconds and cheap when nothing changed.

The roots: every artifact a fleet rolls out or may roll back to (the releases each Fleet keeps, the
artifact of each device's desired state and of its last two installs), collected samples, the stage
keys of the current plan (each model's dataset, train, squeeze and cards keys; each fleet's bundle
keys) and the dataset snapshots those name. `controller.store.gc` adds the last builds and walks the
references.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass

from controller.planning.plan import Plan
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.store.gc import DEFAULT_GRACE_S
from controller.store.gc import DEFAULT_KEEP_BUILDS
from controller.store.gc import GcReport
from controller.store.gc import collect_garbage
from controller.store.stage_cache import StageCache
from specs.errors import StoreError
from wire.logs import get_logger

log = get_logger("reconciler.maintenance")

DEFAULT_EVERY_S = 600.0  # automatic collection at most this often
DEFAULT_FORGET_DEVICES_S = 30 * 86400.0  # a device silent this long (and in no rollout in progress) is forgotten


def state_roots(state: StateStore) -> set[str]:
    """What the state store says must stay: fleets' releases and bundle keys, models' and datasets'
    recorded keys and snapshots, desired and recent install artifacts, samples."""
    roots = set(state.referenced_artifacts())
    for obj in state.objects():
        detail = obj.detail_json()
        if obj.kind == "Fleet":
            for release in (detail.get("releases") or {}).values():
                for artifact in release.values():
                    roots |= _digests(artifact.get(k) for k in ("digest", "firmware", "tail"))
            roots |= _digests((detail.get("bundles") or {}).values())
        elif obj.kind == "Model":
            roots |= _digests((detail.get("keys") or {}).values())
        elif obj.kind == "Dataset":
            roots |= _digests([obj.desired_key, detail.get("snapshot")])
    return roots


def plan_roots(plan: Plan | None) -> set[str]:
    """The stage keys of the plan in force (what the current revision builds or has built)."""
    if plan is None:
        return set()
    graph = plan.graph
    roots = set(graph.datasets.values())
    for keys in graph.models.values():
        roots |= set(keys.all().values())
    for fleet in graph.fleets.values():
        roots |= set(fleet.bundles.values())
    return roots


def _digests(values: Iterable[object]) -> set[str]:
    return {v for v in values if isinstance(v, str) and len(v) == 64}


def run_gc(state: StateStore, store: ArtifactStore, cache: StageCache, plan: Plan | None = None, *,
           keep_builds: int = DEFAULT_KEEP_BUILDS, grace_s: float = DEFAULT_GRACE_S, now: float | None = None,
           dry_run: bool = False) -> GcReport:
    """One collection over the roots of the state (and the plan, when the loop has one)."""
    return collect_garbage(store, cache, state_roots(state) | plan_roots(plan), keep_builds=keep_builds,
                           grace_s=grace_s, now=now, dry_run=dry_run)


@dataclass
class MaintenanceSettings:
    every_s: float = DEFAULT_EVERY_S
    keep_builds: int = DEFAULT_KEEP_BUILDS
    grace_s: float = DEFAULT_GRACE_S
    forget_devices_s: float = DEFAULT_FORGET_DEVICES_S


class Maintenance:
    """The loop's housekeeping after a pass. Skips a collection when neither the roots nor the files
    of the stores changed since the last one and nothing left its grace period meanwhile."""

    def __init__(self, state: StateStore, store: ArtifactStore, cache: StageCache,
                 settings: MaintenanceSettings | None = None, *, clock: Callable[[], float]) -> None:
        self.state = state
        self.store = store
        self.cache = cache
        self.settings = settings or MaintenanceSettings()
        self.clock = clock
        self._last = float("-inf")
        self._fingerprint: str | None = None
        self._next_due = float("inf")
        self.collections = 0  # collections that ran (not skipped), for tests and metrics

    def after_pass(self, plan: Plan | None, in_rollout: set[str]) -> GcReport | None:
        """Forget stale devices and collect garbage, when `every_s` has passed since the last time."""
        now = self.clock()
        if now - self._last < self.settings.every_s:
            return None
        self._last = now
        self.forget_devices(in_rollout, now)
        roots = state_roots(self.state) | plan_roots(plan)
        fingerprint = self._fingerprint_of(roots)
        if fingerprint == self._fingerprint and now < self._next_due:
            log.debug("garbage collection skipped: nothing changed")
            return None
        report = collect_garbage(self.store, self.cache, roots, keep_builds=self.settings.keep_builds,
                                 grace_s=self.settings.grace_s, now=now)
        self.collections += 1
        self._fingerprint, self._next_due = self._fingerprint_of(roots), report.next_due
        if report.count:
            self.state.emit("Source", "artifacts", "GarbageCollected", report.summary())
        return report

    def forget_devices(self, in_rollout: set[str], now: float) -> list[str]:
        forgotten = self.state.forget_devices(now - self.settings.forget_devices_s, keep=in_rollout)
        if forgotten:
            shown = ", ".join(forgotten[:10]) + (f" and {len(forgotten) - 10} more" if len(forgotten) > 10 else "")
            self.state.emit("Source", "devices", "DevicesForgotten",
                            f"{len(forgotten)} device(s) silent for more than "
                            f"{self.settings.forget_devices_s / 86400:g} day(s) forgotten: {shown}")
        return forgotten

    def _fingerprint_of(self, roots: set[str]) -> str:
        """The roots and the names of every file of both stores (listed, never read)."""
        h = hashlib.sha256()
        for root in sorted(roots):
            h.update(root.encode())
        try:
            names = sorted(path.name for _, path, _ in self.store.files())
            names += sorted(str(key) for key, _, _ in self.cache.files())
        except OSError as err:
            raise StoreError(f"cannot list the artifact store: {err.strerror or err}") from err
        for name in names:
            h.update(b"\0" + name.encode())
        return h.hexdigest()
