"""Rollout: a failure threshold halts the rollout and sends failed and updated members back; a halted
rollout is retried by an operator or by a new desired version (a revert converges); undo ends Ready."""
from __future__ import annotations

from specs.v1alpha1.fleet import Rollout
from tests.rollout_sim import SimFleet


def reasons(decisions, warning=None):
    return [n.reason for d in decisions for n in d.notes if warning is None or n.warning == warning]


def test_failing_canary_halts_and_nobody_else_gets_the_version():
    fleet = SimFleet(20, "v1")
    for dev in fleet.devices.values():
        dev.failing.add("v2")
    decisions = fleet.run(Rollout(canary=1, batchSize=5, failureThreshold=1), "v2", passes=10)
    assert fleet.record.phase == "halted" and fleet.record.failed_version == "v2" and fleet.record.target == "v1"
    got_v2 = {d for d, v, _ in fleet.sent if v == "v2"}
    assert len(got_v2) == 1  # only the canary
    halted = [n for d in decisions for n in d.notes if n.reason == "RolloutHalted"]
    assert len(halted) == 1 and halted[0].warning and "failureThreshold 1" in halted[0].message
    assert ("rollback" in {r for d, v, r in fleet.sent if d in got_v2 and v == "v1"})
    # Halted is Stalled, never Ready, even once every member runs v1 again.
    last = fleet.step(Rollout(canary=1), "v2", now=100)
    assert fleet.running("v1") == set(fleet.devices)
    assert last.conditions.stalled.status and not last.conditions.ready.status
    assert last.conditions.stalled.reason == "RolloutHalted" and "retry" in last.conditions.stalled.message


def test_the_failed_version_is_not_retried_by_later_passes():
    fleet = SimFleet(5, "v1")
    fleet.devices["d000"].failing.add("v2")
    fleet.devices["d001"].failing.add("v2")
    fleet.run(Rollout(canary=1, failureThreshold=1), "v2", passes=10)
    before = len(fleet.sent)
    for t in range(100, 110):
        assert fleet.step(Rollout(canary=1), "v2", now=t).assignments == []
    assert len(fleet.sent) == before
    # a new version starts a new rollout from the last good one
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
    for i in batch:
        fleet.devices[i].failing.add("v2")
    fleet.devices_answer()  # the whole batch fails: 4 >= 3
    d = fleet.step(s, "v2", now=2)
    assert fleet.record.phase == "halted"
    # back to v1, at most maxUnavailable at once, those that were sent v2 first
    assert len(d.assignments) == 4 and {a.reason for a in d.assignments} == {"rollback"}
    fleet.run(s, "v2", start=3)
    back = {dev for dev, v, r in fleet.sent if v == "v1" and r == "rollback"}
    assert back == set(canaries) | set(batch)  # failed *and* updated members go back
    assert fleet.running("v1") == set(fleet.devices)


def test_device_timeout_while_online_counts_as_failure():
    fleet = SimFleet(4, "v1")
    s = Rollout(canary=1, failureThreshold=1, deviceTimeoutSeconds=30)
    d = fleet.step(s, "v2", now=0)
    canary = d.assignments[0].device_id
    fleet.devices[canary].silent = True
    assert fleet.step(s, "v2", now=29).record.phase == "progressing"
    d = fleet.step(s, "v2", now=31)
    assert [(f.device_id, f.version) for f in d.failures] == [(canary, "v2")]
    assert fleet.record.phase == "halted" and [a.reason for a in d.assignments] == ["rollback"]
    assert {"MemberTimedOut", "RolloutHalted"} <= set(reasons([d], warning=True))


def test_zero_threshold_never_halts_and_completes_past_failures():
    fleet = SimFleet(5, "v1")
    for dev in fleet.devices.values():
        dev.failing.add("v2")
    decisions = fleet.run(Rollout(canary=1, batchSize=2, failureThreshold=0), "v2", passes=30)
    assert fleet.record.phase == "complete" and len(fleet.record.failures) == 5
    # Nobody runs v2 and nobody will be sent it again: Stalled, never Ready.
    assert decisions[-1].conditions.stalled.reason == "MembersFailed" and not decisions[-1].ready


def test_operator_undo_of_a_completed_rollout_returns_to_the_previous_version_and_ends_ready_rolled_back():
    fleet = SimFleet(6, "v1")
    fleet.run(Rollout(canary=1, batchSize=5), "v2")
    assert fleet.record.last_good == "v2"
    fleet.record.undo_requested = True
    d = fleet.step(Rollout(maxUnavailable=6), "v2", now=500)
    assert fleet.record.target == "v1" and fleet.record.failed_version == "v2" and not fleet.record.undo_requested
    assert {a.version for a in d.assignments} == {"v1"} and len(d.assignments) == 6
    assert {a.reason for a in d.assignments} == {"rollback"}
    assert "RolloutUndone" in reasons([d]) and d.conditions.reconciling.reason == "RollingBack"
    decisions = fleet.run(Rollout(maxUnavailable=6), "v2", start=501)
    last = decisions[-1]
    assert last.ready and last.conditions.ready.reason == "RolledBack" and not last.conditions.stalled.status
    assert fleet.running("v1") == set(fleet.devices)


def test_undo_of_a_halted_rollout_turns_stalled_into_ready_rolled_back():
    fleet = SimFleet(5, "v1")
    fleet.devices["d000"].failing.add("v2")
    fleet.devices["d001"].failing.add("v2")
    fleet.devices["d002"].failing.add("v2")
    fleet.run(Rollout(canary=1, failureThreshold=1), "v2", passes=20)
    assert fleet.decisions[-1].conditions.stalled.status
    fleet.record.undo_requested = True
    d = fleet.step(Rollout(), "v2", now=100)
    assert d.ready and d.conditions.ready.reason == "RolledBack" and fleet.record.phase == "rolled-back"


def test_undo_with_no_earlier_version_is_refused():
    fleet = SimFleet(3, None)
    fleet.run(Rollout(canary=0, batchSize=3), "v1")
    fleet.record.undo_requested = True
    d = fleet.step(Rollout(), "v1", now=10)
    assert reasons([d]) == ["UndoRefused"] and d.assignments == [] and d.ready


def halted_on_canary(n=5):
    fleet = SimFleet(n, "v1")
    s = Rollout(canary=1, batchSize=2, maxUnavailable=2, failureThreshold=1)
    d = fleet.step(s, "v2", now=0)
    canary = d.assignments[0].device_id
    fleet.devices[canary].failing.add("v2")
    fleet.run(s, "v2", start=1, passes=20)
    assert fleet.record.phase == "halted" and fleet.failed[canary] == {"v2"}
    return fleet, s, canary


def test_operator_retry_clears_the_failures_and_rolls_the_version_out_again():
    fleet, s, canary = halted_on_canary()
    fleet.devices[canary].failing.clear()  # whatever broke it was fixed on the device
    fleet.record.retry_requested = True
    d = fleet.step(s, "v2", now=100)
    assert d.forget_failures == "v2" and fleet.failed[canary] == set() and not fleet.record.retry_requested
    assert "RolloutRetried" in reasons([d]) and fleet.record.phase == "progressing"
    assert [(a.device_id, a.version, a.reason) for a in d.assignments] == [(canary, "v2", "canary")]  # alone
    decisions = fleet.run(s, "v2", start=101)
    assert decisions[-1].ready and fleet.running("v2") == set(fleet.devices)


def test_reverting_the_bad_commit_converges_instead_of_staying_halted():
    fleet, s, canary = halted_on_canary()
    decisions = fleet.run(s, "v1", start=100)  # the commit that desired v2 is reverted
    assert "RolloutReverted" in reasons(decisions)
    assert fleet.record.phase == "complete" and fleet.record.failed_version is None
    last = decisions[-1]
    assert last.ready and last.conditions.ready.reason == "Converged" and not last.conditions.stalled.status
    # committing v2 again does not re-send it to the member that failed it
    d = fleet.step(s, "v2", now=300)
    assert canary not in {a.device_id for a in d.assignments}


def test_retry_with_nothing_to_retry_is_refused_with_a_warning():
    fleet = SimFleet(2, None)
    fleet.record.retry_requested = True
    d = fleet.step(Rollout(), None, now=0)
    assert reasons([d], warning=True) == ["RetryRefused"] and not fleet.record.retry_requested
