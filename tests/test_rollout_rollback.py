"""Rollout: a failure threshold halts the rollout and sends failed and updated members back."""
from __future__ import annotations

from controller.reconciler.rollout import next_step
from specs.v1alpha1.fleet import Rollout
from tests.test_rollout_canary import SimFleet


def test_failing_canary_halts_and_nobody_else_gets_the_version():
    fleet = SimFleet(20, "v1")
    fleet.failing.add("v2")
    decisions = fleet.run(Rollout(canary=1, batchSize=5, failureThreshold=1), "v2", passes=10)
    assert fleet.record.phase == "halted" and fleet.record.failed_version == "v2" and fleet.record.target == "v1"
    got_v2 = {d for d, v, _ in fleet.sent if v == "v2"}
    assert len(got_v2) == 1  # only the canary
    halted = [n for d in decisions for n in d.notes if n.reason == "RolloutHalted"]
    assert len(halted) == 1 and halted[0].warning
    # the canary is sent back to v1 and the fleet is Ready on v1
    assert ("rollback" in {r for d, v, r in fleet.sent if d in got_v2 and v == "v1"})
    assert decisions[-1].ready and all(m.reported_version == "v1" for m in fleet.members.values())


def test_the_failed_version_is_not_retried_by_later_passes():
    fleet = SimFleet(5, "v1")
    fleet.failing.add("v2")
    fleet.run(Rollout(canary=1, failureThreshold=1), "v2", passes=10)
    before = len(fleet.sent)
    for t in range(100, 110):
        assert fleet.step(Rollout(canary=1), "v2", now=t).assignments == []
    assert len(fleet.sent) == before
    # a new version starts a new rollout from the last good one
    fleet.failing.clear()
    d = fleet.step(Rollout(canary=1), "v3", now=200)
    assert fleet.record.phase == "progressing" and fleet.record.last_good == "v1" and len(d.assignments) == 1


def test_threshold_above_one_tolerates_fewer_failures_then_halts_and_rolls_back_updated_members():
    fleet = SimFleet(10, "v1")
    s = Rollout(canary=2, batchSize=4, maxUnavailable=4, failureThreshold=3)
    d = fleet.step(s, "v2", now=0)
    canaries = [a.device_id for a in d.assignments]
    fleet.devices_answer()  # canaries healthy on v2
    d = fleet.step(s, "v2", now=1)
    batch = [a.device_id for a in d.assignments]
    fleet.failing.add("v2")
    fleet.devices_answer()  # the whole batch fails: 4 >= 3
    d = fleet.step(s, "v2", now=2)
    assert fleet.record.phase == "halted"
    back = {a.device_id for a in d.assignments if a.version == "v1"}
    assert back == set(canaries) | set(batch)  # failed *and* updated members go back


def test_device_timeout_counts_as_failure():
    fleet = SimFleet(4, "v1")
    s = Rollout(canary=1, failureThreshold=1, deviceTimeoutSeconds=30)
    d = fleet.step(s, "v2", now=0)
    fleet.silent.add(d.assignments[0].device_id)
    assert fleet.step(s, "v2", now=29).record.phase == "progressing"
    d = fleet.step(s, "v2", now=31)
    assert fleet.record.phase == "halted" and [a.reason for a in d.assignments] == ["rollback"]


def test_zero_threshold_never_halts_and_completes_past_failures():
    fleet = SimFleet(5, "v1")
    fleet.failing.add("v2")
    fleet.run(Rollout(canary=1, batchSize=2, failureThreshold=0), "v2", passes=30)
    assert fleet.record.phase == "complete" and len(fleet.record.failures) == 5


def test_operator_undo_of_a_completed_rollout_returns_to_the_previous_version():
    fleet = SimFleet(6, "v1")
    fleet.run(Rollout(canary=1, batchSize=5), "v2")
    assert fleet.record.last_good == "v2"
    fleet.record.undo_requested = True
    d = fleet.step(Rollout(), "v2", now=500)
    assert fleet.record.target == "v1" and fleet.record.failed_version == "v2" and not fleet.record.undo_requested
    assert {a.version for a in d.assignments} == {"v1"} and len(d.assignments) == 6
    assert any(n.reason == "RolloutUndone" for n in d.notes)


def test_undo_with_no_earlier_version_is_refused():
    fleet = SimFleet(3, None)
    fleet.run(Rollout(canary=0, batchSize=3), "v1")
    fleet.record.undo_requested = True
    d = next_step("f", Rollout(), fleet.record, list(fleet.members.values()), "v1", 10)
    assert [n.reason for n in d.notes] == ["UndoRefused"] and d.assignments == []
