"""Controller replicas: which fleets' rollouts and which builds this replica works on.

Work is claimed with leases in the shared state (`fleet/NAME`, `build/KEY`): a lease is renewed by
the pass that uses it and taken over by another replica once it expires, so a replica that dies
loses its fleets within one lease period. An act on a fleet checks, inside the transaction that
records it, that the replica still holds the same lease term (`StateStore.holds`): a replica that
stalled past its lease and wakes up writes nothing, so no device is assigned twice.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable

from controller.state import Lease
from controller.state import StateStore
from wire.logs import get_logger

log = get_logger("reconciler.shards")
LEASE_S = 30.0  # default lease period; passes run at least three times per period to renew


class Shards:
    def __init__(self, store: StateStore, holder: str, *, period: float = LEASE_S,
                 clock: Callable[[], float] = time.time) -> None:
        if period <= 0:
            raise ValueError("a lease period must be positive")
        self.store = store
        self.holder = holder
        self.period = period
        self.clock = clock
        self._held: dict[str, Lease] = {}
        self._taken: set[str] = set()  # leases taken (not renewed) and not yet handed to `taken_fleets`

    def fleets(self, names: Iterable[str]) -> list[str]:
        """The fleets of `names` this replica holds after claiming (or renewing) each, in one transaction."""
        names = list(names)
        held = self._claim_all([f"fleet/{n}" for n in names])
        return [n for n in names if held[f"fleet/{n}"]]

    def taken_fleets(self) -> set[str]:
        """The fleets this replica took (a new term, not a renewal) since the last call. Whoever held
        one before may have died between recording an install and sending it: the caller re-sends
        what is recorded for its members."""
        out = {n.removeprefix("fleet/") for n in self._taken if n.startswith("fleet/")}
        self._taken -= {f"fleet/{n}" for n in out}
        return out

    def fleet_taken_at(self, name: str) -> float | None:
        """When this replica took the fleet (the claimant's clock); a renewal keeps it."""
        lease = self._held.get(f"fleet/{name}")
        return lease.acquired_at if lease is not None else None

    def holds_fleet(self, name: str) -> bool:
        """Checked inside the transaction that records a fleet's step."""
        lease = self._held.get(f"fleet/{name}")
        return lease is not None and self.store.holds(lease)

    def build(self, key: str) -> bool:
        """Whether this replica may run (or keeps running) the build `key`."""
        return bool(self._claim_all([f"build/{key}"]).get(f"build/{key}"))

    def release_all(self) -> None:
        """On a clean stop: the others take over at once instead of after the lease period."""
        for name in list(self._held):
            self.store.release(name, self.holder)
        self._held.clear()
        self._taken.clear()

    def _claim_all(self, names: list[str]) -> dict[str, bool]:
        now = self.clock()
        renew_after = self.period / 3  # renewing every pass would make each idle pass a write
        out: dict[str, bool] = {}
        wanted = [n for n in names if not (n in self._held and now < self._held[n].expires_at - self.period
                                           + renew_after)]  # held, and renewed less than a third ago
        for name in names:
            out[name] = name in self._held and name not in wanted
        if not wanted:
            return out
        with self.store.transaction():
            for name in wanted:
                lease = self.store.claim(name, self.holder, now, self.period)
                before = self._held.pop(name, None)
                if lease is not None:
                    self._held[name] = lease
                    if before is None or before.term != lease.term:
                        self._taken.add(name)
                        log.info("lease taken", extra={"lease": name, "holder": self.holder, "term": lease.term})
                elif before is not None:
                    log.warning("lease lost", extra={"lease": name, "holder": self.holder})
                out[name] = lease is not None
        return out
