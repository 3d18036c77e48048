"""Rollout: canary first, then batches bounded by maxUnavailable, with pauses between steps (pure logic)."""
from __future__ import annotations

from dataclasses import replace

from controller.reconciler.rollout import Member, RolloutDecision, next_step
from controller.state.records import RolloutRecord
from specs.v1alpha1.fleet import Rollout


class SimFleet:
    def __init__(self, n: int, version: str | None = None, *, fleet: str = "f") -> None:
        self.fleet = fleet
        self.members = {f"d{i:03d}": Member(f"d{i:03d}", version, 0.0, version is not None, version, True)
                        for i in range(n)}
        self.record = RolloutRecord(fleet, target=version, last_good=version,
                                    phase="complete" if version else "idle")
        self.sent: list[tuple[str, str, str]] = []  # (device, version, reason) in order
        self.failing: set[str] = set()  # versions whose health check fails on devices
        self.silent: set[str] = set()  # device ids that never answer

    def step(self, strategy: Rollout, desired: str | None, now: float, *, paused: bool = False) -> RolloutDecision:
        d = next_step(self.fleet, strategy, self.record, list(self.members.values()), desired, now, paused=paused)
        self.record = d.record
        for a in d.assignments:
            self.sent.append((a.device_id, a.version, a.reason))
            self.members[a.device_id] = replace(self.members[a.device_id], desired_version=a.version,
                                                assigned_at=now, reached=False)
        return d

    def devices_answer(self) -> None:
        """Every device installs what it was told; a failing version is rolled back on the device."""
        for k, m in self.members.items():
            if k in self.silent or m.desired_version is None or m.reported_version == m.desired_version:
                continue
            if m.desired_version in self.failing:
                self.members[k] = replace(m, failed_version=m.desired_version, healthy=True)
            else:
                self.members[k] = replace(m, reported_version=m.desired_version, healthy=True, reached=True)

    def run(self, strategy: Rollout, desired: str | None, *, start: float = 0.0, dt: float = 1.0,
            passes: int = 200) -> list[RolloutDecision]:
        out, now = [], start
        for _ in range(passes):
            d = self.step(strategy, desired, now)
            out.append(d)
            self.devices_answer()
            if d.ready:
                break
            now += dt
        return out


def strategy(**kw) -> Rollout:
    return Rollout(**kw)


def test_canary_goes_first_and_alone_until_it_reports():
    fleet = SimFleet(20, "v1")
    d = fleet.step(strategy(canary=1, batchSize="25%", maxUnavailable=5), "v2", now=0)
    assert [a.reason for a in d.assignments] == ["canary"]
    canary = d.assignments[0].device_id
    # The canary has not answered: nothing else goes out, however often we pass.
    for t in range(1, 5):
        assert fleet.step(strategy(canary=1, batchSize="25%", maxUnavailable=5), "v2", now=t).assignments == []
    fleet.devices_answer()
    d = fleet.step(strategy(canary=1, batchSize="25%", maxUnavailable=5), "v2", now=6)
    assert any(n.reason == "StepComplete" for n in d.notes)
    assert len(d.assignments) == 5 and canary not in {a.device_id for a in d.assignments}
    assert {a.reason for a in d.assignments} == {"batch"}


def test_percent_canary_rounds_up_and_batches_respect_max_unavailable():
    fleet = SimFleet(20, "v1")
    s = strategy(canary="10%", batchSize="50%", maxUnavailable=3)
    d = fleet.step(s, "v2", now=0)
    assert len(d.assignments) == 2  # 10% of 20
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=1)
    assert len(d.assignments) == 3  # batch of 10, but only 3 in flight at once
    d = fleet.step(s, "v2", now=2)
    assert d.assignments == []  # still 3 pending
    fleet.devices_answer()
    assert len(fleet.step(s, "v2", now=3).assignments) == 3


def test_rollout_converges_every_member_exactly_once():
    fleet = SimFleet(23, "v1")
    decisions = fleet.run(strategy(canary=2, batchSize=5, maxUnavailable=5), "v2")
    assert decisions[-1].ready
    assert fleet.record.phase == "complete" and fleet.record.last_good == "v2" and fleet.record.previous_good == "v1"
    sent = [(dev, v) for dev, v, _ in fleet.sent]
    assert sorted(sent) == sorted({(d, "v2") for d in fleet.members})  # each device once
    assert all(m.reported_version == "v2" for m in fleet.members.values())


def test_pause_between_steps_is_honoured():
    fleet = SimFleet(10, "v1")
    s = strategy(canary=1, batchSize=3, maxUnavailable=3, pauseSeconds=60)
    fleet.step(s, "v2", now=0)
    fleet.devices_answer()
    assert fleet.step(s, "v2", now=1).assignments == []  # step done at t=1, pause until t=61
    assert fleet.step(s, "v2", now=30).assignments == []
    assert len(fleet.step(s, "v2", now=61).assignments) == 3


def test_paused_rollout_assigns_nothing_and_resumes_where_it_stopped():
    fleet = SimFleet(10, "v1")
    s = strategy(canary=1, batchSize=3, maxUnavailable=3)
    fleet.step(s, "v2", now=0)
    fleet.devices_answer()
    assert fleet.step(s, "v2", now=1, paused=True).assignments == []
    assert len(fleet.step(s, "v2", now=2).assignments) == 3


def test_a_second_pass_with_the_same_inputs_does_nothing():
    fleet = SimFleet(8, None)
    s = strategy(canary=0, batchSize="100%", maxUnavailable="100%")
    assert len(fleet.step(s, "v1", now=0).assignments) == 8
    assert fleet.step(s, "v1", now=0).assignments == []


def test_initial_rollout_without_canary_sends_whole_batches():
    fleet = SimFleet(6, None)
    decisions = fleet.run(strategy(canary=0, batchSize=3, maxUnavailable=3), "v1")
    assert decisions[0].assignments and len(decisions[0].assignments) == 3
    assert decisions[-1].ready and fleet.record.last_good == "v1" and fleet.record.previous_good is None
