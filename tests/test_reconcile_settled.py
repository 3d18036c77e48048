"""A settled controller (nothing to do, every fleet Ready) skips planning while nothing changes, so a
no-op pass costs the same at any fleet size; anything committed to the state store (a report, an
operator action from another process), a new revision or the resync period brings a full pass back."""
from __future__ import annotations

from bench.reconcile import AlreadyBuilt
from bench.reconcile import Quiet
from bench.reconcile import Unsigned
from bench.reconcile import seed_converged
from bench.reconcile import write_specs
from controller.reconciler.loop import Reconciler
from controller.sources.local import LocalSource
from controller.state import StateStore
from specs.v1alpha1.protocol import Presence


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Link(Quiet):
    def __init__(self) -> None:
        super().__init__()
        self.pending: list = []

    def poll(self):
        pending, self.pending = self.pending, []
        return pending


def settled_loop(tmp_path, clock=None):
    write_specs(tmp_path / "specs")
    store = StateStore(tmp_path / "origami-state.db")
    link = Link()
    loop = Reconciler(store, LocalSource(tmp_path / "specs"), AlreadyBuilt(), link, Unsigned(),
                      clock=clock or Clock(), online_timeout=10**9)
    seed_converged(store, loop, 60)
    first = loop.reconcile_once()  # sends the recorded desired states again once, as after any start
    assert first.actions == 0 and all(first.ready.values())
    link.sent = 0
    return loop, store, link


def test_nothing_changed_the_pass_is_skipped_and_says_the_same(tmp_path):
    loop, store, link = settled_loop(tmp_path)
    full = loop.reconcile_once()
    skipped = loop.skipped_passes
    again = loop.reconcile_once()
    assert loop.skipped_passes == skipped + 1
    assert (again.actions, again.ready, again.revision) == (0, full.ready, full.revision)
    assert link.sent == 0


def test_a_device_report_brings_a_full_pass(tmp_path):
    loop, store, link = settled_loop(tmp_path)
    loop.reconcile_once()
    skipped = loop.skipped_passes
    link.pending.append(Presence(deviceId="dev-00001", online=False))
    loop.reconcile_once()
    assert loop.skipped_passes == skipped, "the report was recorded, so the fleets were looked at again"
    loop.reconcile_once()
    assert loop.skipped_passes == skipped + 1, "and then it settles again"


def test_an_operator_action_from_another_process_brings_a_full_pass(tmp_path):
    loop, store, link = settled_loop(tmp_path)
    loop.reconcile_once()
    skipped = loop.skipped_passes
    other = StateStore(tmp_path / "origami-state.db")  # another connection, as `origami rollout pause` opens
    try:
        with other.transaction():
            other.set_paused("f1", True)
    finally:
        other.close()
    loop.reconcile_once()
    assert loop.skipped_passes == skipped
    assert store.object("Fleet", "f1").fleet.paused


def test_the_resync_period_brings_a_full_pass(tmp_path):
    clock = Clock()
    loop, store, link = settled_loop(tmp_path, clock)
    loop.reconcile_once()
    skipped = loop.skipped_passes
    clock.now += loop.resync_s + 1
    loop.reconcile_once()
    assert loop.skipped_passes == skipped
