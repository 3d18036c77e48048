"""The rollout decision against random histories (hypothesis stateful): devices join, leave, go offline
and come back, fail installs, change health, lie, answer late; commits of new versions and reverts;
operator pause, resume, undo and retry; time passing. After every decision the fleet's promises hold.

What is checked is computed here from the simulated devices, not read back from the decision."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import initialize
from hypothesis.stateful import precondition
from hypothesis.stateful import rule

from specs.v1alpha1.fleet import Rollout
from tests.rollout_sim import SimFleet
from tests.rollout_sim import digest

VERSIONS = ("v1", "v2", "v3", "v4")
BOARDS = ("rpi4", "nano33ble")
amount = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "25%", "50%", "100%"]))


def count(value: int | str, total: int) -> int:
    """A strategy amount against `total` members: percents round up, counts cap at the total."""
    if isinstance(value, str):
        return min(total, math.ceil(total * int(value[:-1]) / 100))
    return min(total, value)


class RolloutMachine(RuleBasedStateMachine):
    @initialize(n=st.integers(1, 6), canary=amount, batch=st.one_of(st.integers(1, 4), st.sampled_from(["25%", "50%"])),
                unavailable=amount, threshold=st.one_of(st.integers(0, 3), st.sampled_from(["10%", "50%"])),
                completion=st.sampled_from(["100%", "100%", "60%"]), pause=st.sampled_from([0.0, 20.0]),
                timeout=st.sampled_from([30.0, 300.0]))
    def setup(self, n, canary, batch, unavailable, threshold, completion, pause, timeout):
        self.fleet = SimFleet(n, "v1")
        self.fleet.no_artifact.add(("v3", "nano33ble"))  # v3 does not fit the small board
        self.strategy = Rollout(canary=canary, batchSize=batch, maxUnavailable=unavailable,
                                failureThreshold=threshold, completion=completion, pauseSeconds=pause,
                                deviceTimeoutSeconds=timeout)
        self.now = 1.0
        self.committed, self.built = "v1", True
        self.paused = False
        self.attempt_start = 0.0
        self.joined = 0

    def pick(self, i: int) -> str | None:
        ids = sorted(self.fleet.devices)
        return ids[i % len(ids)] if ids else None

    # --- the world ---------------------------------------------------------------------------------
    @rule(board=st.sampled_from(BOARDS), health=st.sampled_from(["unknown", "ok", "failed"]))
    def join(self, board, health):
        self.joined += 1
        self.fleet.add(f"new{self.joined}", board=board, now=self.now)
        self.fleet.devices[f"new{self.joined}"].health = health
        self.decide()

    @rule(i=st.integers(0, 20))
    def leave(self, i):
        if (dev := self.pick(i)) is not None:
            self.fleet.remove(dev)
        self.decide()

    @rule(i=st.integers(0, 20), online=st.booleans())
    def presence(self, i, online):
        if (dev := self.pick(i)) is not None:
            self.fleet.set_online(dev, online, self.now)
        self.decide()

    @rule(i=st.integers(0, 20), health=st.sampled_from(["ok", "degraded", "failed"]))
    def health(self, i, health):
        if (dev := self.pick(i)) is not None:
            self.fleet.devices[dev].health, self.fleet.devices[dev].health_reason = health, "probe"
        self.decide()

    @rule(i=st.integers(0, 20), version=st.sampled_from(VERSIONS))
    def breaks_on(self, i, version):
        if (dev := self.pick(i)) is not None:
            self.fleet.devices[dev].failing.add(version)
        self.decide()

    @rule(i=st.integers(0, 20))
    def goes_silent(self, i):
        if (dev := self.pick(i)) is not None:
            self.fleet.devices[dev].silent = not self.fleet.devices[dev].silent
        self.decide()

    @rule(i=st.integers(0, 20))
    def lies(self, i):
        if (dev := self.pick(i)) is not None:
            self.fleet.devices[dev].lies = None if self.fleet.devices[dev].lies else digest("forged", "x")
        self.decide()

    @rule(i=st.integers(0, 20))
    def replays_an_old_report(self, i):
        """Reports the digest it was assigned, under a generation older than the assignment."""
        if (dev := self.pick(i)) is not None and (want := self.fleet.desired.get(dev)) is not None:
            device = self.fleet.devices[dev]
            device.digest, device.observed = want.digest, want.generation - 1
        self.decide()

    @rule(i=st.integers(0, 20))
    def answers(self, i):
        if (dev := self.pick(i)) is not None:
            self.fleet.answer(dev)
        self.decide()

    @rule()
    def all_answer(self):
        self.fleet.devices_answer()
        self.decide()

    @rule(dt=st.sampled_from([1.0, 5.0, 25.0, 400.0]))
    def time_passes(self, dt):
        self.now += dt
        self.decide()

    # --- commits and the operator ------------------------------------------------------------------
    @rule(version=st.sampled_from(VERSIONS), built=st.booleans())
    def commit(self, version, built):
        self.committed, self.built = version, built
        self.decide()

    @rule()
    def build_finishes(self):
        self.built = True
        self.decide()

    @rule(paused=st.booleans())
    def pause(self, paused):
        self.paused = paused
        self.decide()

    @precondition(lambda self: self.fleet.record.target is not None)
    @rule()
    def undo(self):
        self.fleet.record.undo_requested = True
        self.decide()

    @rule()
    def retry(self):
        self.fleet.record.retry_requested = True
        self.decide()

    # --- the decision and its promises -------------------------------------------------------------
    def proves(self, dev_id: str, version: str) -> bool:
        dev, want = self.fleet.devices[dev_id], self.fleet.desired.get(dev_id)
        return (want is not None and want.version == version and dev.lies is None
                and dev.digest == digest(version, dev.board) and dev.observed >= want.generation
                and dev.health == "ok" and (version, dev.board) not in self.fleet.no_artifact)

    def in_flight(self, target: str | None) -> set[str]:
        """Assigned the target in this attempt, not proven, not failed."""
        return {i for i, want in self.fleet.desired.items() if i in self.fleet.devices and target is not None
                and want.version == target and want.assigned_at >= self.attempt_start
                and not self.proves(i, target) and target not in self.fleet.failed[i]}

    @rule()
    def reconcile(self):
        self.decide()

    def decide(self):
        fleet, before = self.fleet, self.fleet.record
        failed_before = {i: set(v) for i, v in fleet.failed.items()}
        retrying = before.retry_requested
        desired = self.committed if self.built else None
        d = fleet.step(self.strategy, desired, self.now, paused=self.paused)
        record, c = d.record, d.conditions
        notes = {n.reason for n in d.notes}
        if record.target != before.target or "RolloutRetried" in notes:
            self.attempt_start = self.now
        members = sorted(fleet.devices)
        total = len(members)
        target = record.target

        # Conditions by kstatus rules.
        assert sum((c.ready.status, c.reconciling.status, c.stalled.status)) <= 1, c
        # Ready only when enough members prove the target (all of them at 100%) on the desired version.
        if c.ready.status:
            proving = sum(self.proves(i, target) for i in members)
            assert proving >= count(self.strategy.completion, total) and total > 0, (proving, total, c)
            assert desired is not None and (target == desired or c.ready.reason == "RolledBack"), (target, c)
        # Never more than maxUnavailable in flight through the decision's own assignments.
        flying = self.in_flight(target)
        cap = max(1, count(self.strategy.maxUnavailable, total))
        added = [a for a in d.assignments if a.reason != "drift"]
        if added:
            assert len(flying) <= cap, (len(flying), cap, d.assignments)
        assert not (self.paused and d.assignments)
        # No member is sent a version it failed, unless an operator retried that version.
        for a in d.assignments:
            forgiven = retrying and d.forget_failures == a.version
            assert forgiven or a.version not in failed_before.get(a.device_id, set()), a
            assert (a.version, fleet.devices[a.device_id].board) not in fleet.no_artifact
            assert fleet.devices[a.device_id].online
        # Unhealthy members never judge a version, and are not blamed for what they ran before.
        for a in d.assignments:
            if a.reason in ("canary", "batch", "join", "retry") or (
                    a.reason == "drift" and record.phase in ("progressing", "complete")):
                assert fleet.devices[a.device_id].health in ("ok", "unknown"), a
        for f in d.failures:
            dev = fleet.devices[f.device_id]
            assert dev.health in ("ok", "unknown") or dev.digest == digest(f.version, dev.board), f
        # A rollout never completes while a member is in flight (offline ones included).
        if "RolloutComplete" in notes:
            assert flying <= {a.device_id for a in d.assignments}, flying
        # Every halt says why, as a Warning.
        if record.phase == "halted" and before.phase != "halted":
            halts = [n for n in d.notes if n.reason == "RolloutHalted"]
            assert halts and halts[0].warning and "failed on" in halts[0].message
        if record.phase == "halted":
            assert c.stalled.status and c.stalled.reason == "RolloutHalted"
        # Idle (nothing sent or in flight, nobody left to wait for, nothing to build): Reconciling is False.
        settled = all(self.proves(i, target) or target in fleet.failed[i] or (target, fleet.devices[i].board)
                      in fleet.no_artifact for i in members) if target else True
        if not flying and settled and not d.assignments and desired is not None and record.phase != "progressing":
            assert not c.reconciling.status, c
        if c.reconciling.status and self.paused:
            assert flying or desired is None, c


settings_fast = settings(max_examples=100, stateful_step_count=40, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])
settings_slow = settings(max_examples=1500, stateful_step_count=80, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])

TestRandomHistoriesKeepTheRolloutPromises = RolloutMachine.TestCase
TestRandomHistoriesKeepTheRolloutPromises.settings = settings_fast


class TestLongRandomHistoriesKeepTheRolloutPromises(RolloutMachine.TestCase):
    settings = settings_slow
    pytestmark = pytest.mark.slow
