"""Garbage collection of the artifact store and the stage cache: keep what is reachable from the
roots, delete the rest once it is older than a grace period.

Nodes are sha256 hex strings: artifact digests and stage keys share one namespace (both are
sha256; a collision is not a concern). Edges, read from the stores:

    stage record  -> its outputs (artifact digests) and the stage keys it lists in
                     result["stage_keys"] (a model's cards record: its dataset, train and squeeze keys)
    artifact      -> every digest or stage key its metadata names (a TFLite model -> its Keras model
                     and squeeze key; a Keras model -> its dataset snapshot and train key)

Roots come from the caller (what the state store says fleets run and may roll back to, the current
plan's stage keys, collected samples) plus the last `keep_builds` builds of each model and each
bundle (the newest records by mtime, a hit never rewrites a record). `reachable` and `doomed` are pure;
`collect_garbage` does the I/O. Nothing younger than the grace period is deleted, so a build that is
writing its outputs (its record comes last) is never cut short; abandoned temporary files go by the
same rule.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache
from wire.logs import get_logger

log = get_logger("store.gc")

DEFAULT_GRACE_S = 3600.0  # anything newer may belong to a running build
DEFAULT_KEEP_BUILDS = 3  # builds of each model (and bundles of each model and board) kept besides the roots
BUILD_KINDS = ("cards", "bundle")  # the stage that ends a model build, and a fleet's device-class bundle


@dataclass(frozen=True)
class Item:
    """One file the collector may delete."""

    kind: str  # "artifact" | "stage" | "temp" | "orphan" (metadata without its artifact)
    name: str  # digest, stage key, or file name
    size: int
    mtime: float
    path: Path | None = None


@dataclass(frozen=True)
class BuildRecord:
    """A stage record that ends a build, as `recent_builds` sees it."""

    key: str
    kind: str
    group: tuple  # what "the last N builds" counts within: a model, or a model and a board
    mtime: float


@dataclass
class GcReport:
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)  # item kind -> count
    freed_bytes: int = 0
    kept: int = 0  # artifacts and stage records kept
    young: int = 0  # unreachable but within the grace period
    next_due: float = float("inf")  # when the oldest young item leaves the grace period

    @property
    def count(self) -> int:
        return sum(self.deleted.values())

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.deleted.items()) if n) or "nothing"
        return (f"{verb} {parts} ({_size(self.freed_bytes)}); kept {self.kept}; "
                f"{self.young} unreferenced but newer than the grace period")

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "deleted": dict(self.deleted), "count": self.count,
                "freed_bytes": self.freed_bytes, "kept": self.kept, "young": self.young}


# --- pure ----------------------------------------------------------------------------------------

def reachable(roots: Iterable[str], references: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Every node reachable from `roots` through `references` (node -> the nodes it names)."""
    keep: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if node in keep:
            continue
        keep.add(node)
        pending.extend(n for n in references.get(node, ()) if n not in keep)
    return frozenset(keep)


def recent_builds(records: Iterable[BuildRecord], keep: int) -> set[str]:
    """The keys of the `keep` newest build records of each group."""
    groups: dict[tuple, list[BuildRecord]] = defaultdict(list)
    for record in records:
        groups[(record.kind, *record.group)].append(record)
    out: set[str] = set()
    for members in groups.values():
        members.sort(key=lambda r: (r.mtime, r.key), reverse=True)
        out.update(r.key for r in members[:max(0, keep)])
    return out


def doomed(items: Iterable[Item], keep: frozenset[str], now: float, grace_s: float) -> tuple[list[Item], list[Item]]:
    """(what to delete, what is unreferenced but still within the grace period). Kept nodes are never
    deleted; temporary files and orphaned metadata go by age alone."""
    delete, young = [], []
    for item in items:
        if item.kind in ("artifact", "stage") and item.name in keep:
            continue
        (young if now - item.mtime < grace_s else delete).append(item)
    return delete, young


# --- the stores ----------------------------------------------------------------------------------

@dataclass
class Scan:
    items: list[Item] = field(default_factory=list)
    references: dict[str, list[str]] = field(default_factory=dict)
    builds: list[BuildRecord] = field(default_factory=list)


def scan(store: ArtifactStore, cache: StageCache) -> Scan:
    """Read both stores: every deletable file, the reference edges and the build records."""
    out = Scan()
    files = list(store.files())
    metas = {path.name[:-5]: (path, info) for kind, path, info in files if kind == "meta"}
    objects: set[str] = set()
    for kind, path, info in files:
        if kind == "object":
            objects.add(path.name)
            meta = metas.get(path.name)
            size = info.st_size + (meta[1].st_size if meta else 0)  # an artifact is its bytes and its metadata
            out.items.append(Item("artifact", path.name, size, info.st_mtime, path))
            out.references[path.name] = store.references(path.name)
        elif kind == "temp":
            out.items.append(Item("temp", path.name, info.st_size, info.st_mtime, path))
    for digest, (path, info) in metas.items():  # metadata whose artifact is gone (a crash between deletes)
        if digest not in objects:
            out.items.append(Item("orphan", path.name, info.st_size, info.st_mtime, path))
    for key, info, path in cache.files():
        if key is None:
            if Path(path).name.startswith(".tmp-"):
                out.items.append(Item("temp", Path(path).name, info.st_size, info.st_mtime, Path(path)))
            continue
        raw = cache.raw(key) or {}
        outputs = raw.get("outputs") if isinstance(raw.get("outputs"), dict) else {}
        result = raw.get("result") if isinstance(raw.get("result"), dict) else {}
        stage_keys = result.get("stage_keys") if isinstance(result.get("stage_keys"), dict) else {}
        out.references[key] = [str(v) for v in (*outputs.values(), *stage_keys.values())]
        out.items.append(Item("stage", key, info.st_size, info.st_mtime, Path(path)))
        if raw.get("kind") in BUILD_KINDS:
            group = (result.get("model"),) if raw["kind"] == "cards" else (result.get("model"), result.get("board"))
            out.builds.append(BuildRecord(key, raw["kind"], group, info.st_mtime))
    return out


def collect_garbage(store: ArtifactStore, cache: StageCache, roots: Iterable[str], *,
                    keep_builds: int = DEFAULT_KEEP_BUILDS, grace_s: float = DEFAULT_GRACE_S,
                    now: float | None = None, dry_run: bool = False) -> GcReport:
    """Delete what no root reaches and is older than `grace_s`; with `dry_run`, only report it."""
    now = time.time() if now is None else now
    found = scan(store, cache)
    keep = reachable(set(roots) | recent_builds(found.builds, keep_builds), found.references)
    delete, young = doomed(found.items, keep, now, grace_s)
    report = GcReport(dry_run, kept=sum(1 for i in found.items if i.kind in ("artifact", "stage") and i.name in keep),
                      young=len(young))
    report.next_due = min((i.mtime + grace_s for i in young), default=float("inf"))
    # Records before artifacts: a reader never finds a record whose outputs are half gone for long.
    order = {"stage": 0, "artifact": 1, "orphan": 2, "temp": 3}
    for item in sorted(delete, key=lambda i: order[i.kind]):
        freed = item.size if dry_run else _delete(store, cache, item)
        report.deleted[item.kind] = report.deleted.get(item.kind, 0) + 1
        report.freed_bytes += freed
        log.info("garbage" if dry_run else "garbage deleted",
                 extra={"item": item.kind, "name": item.name[:16], "bytes": freed, "dry_run": dry_run})
    log.info("garbage collection", extra={**report.to_dict(), "summary": report.summary()})
    return report


def _delete(store: ArtifactStore, cache: StageCache, item: Item) -> int:
    if item.kind == "artifact":
        return store.remove(item.name)
    if item.kind == "stage":
        return cache.remove(item.name)
    try:
        item.path.unlink()  # type: ignore[union-attr]
        return item.size
    except FileNotFoundError:
        return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
