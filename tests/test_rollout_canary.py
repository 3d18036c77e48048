"""Rollout: canary first, then batches bounded by maxUnavailable, with pauses between steps (pure logic)."""
from __future__ import annotations

from specs.v1alpha1.fleet import Rollout
from tests.rollout_sim import SimFleet


def strategy(**kw) -> Rollout:
    return Rollout(**kw)


def test_canary_goes_first_and_alone_until_it_reports():
    fleet = SimFleet(20, "v1")
    s = strategy(canary=1, batchSize="25%", maxUnavailable=5)
    d = fleet.step(s, "v2", now=0)
    assert [a.reason for a in d.assignments] == ["canary"]
    canary = d.assignments[0].device_id
    # The canary has not answered: nothing else goes out, however often we pass.
    for t in range(1, 5):
        assert fleet.step(s, "v2", now=t).assignments == []
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=6)
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
    assert d.assignments == [] and d.progress.pending == 3
    fleet.devices_answer()
    assert len(fleet.step(s, "v2", now=3).assignments) == 3


def test_rollout_converges_every_member_exactly_once():
    fleet = SimFleet(23, "v1")
    decisions = fleet.run(strategy(canary=2, batchSize=5, maxUnavailable=5), "v2")
    last = decisions[-1]
    assert last.ready and last.conditions.ready.reason == "Converged"
    assert fleet.record.phase == "complete" and fleet.record.last_good == "v2" and fleet.record.previous_good == "v1"
    assert sorted((dev, v) for dev, v, _ in fleet.sent) == sorted({(d, "v2") for d in fleet.devices})  # each once
    assert fleet.running("v2") == set(fleet.devices)
    assert [n.reason for d in decisions for n in d.notes].count("RolloutComplete") == 1


def test_pause_between_steps_is_honoured():
    fleet = SimFleet(10, "v1")
    s = strategy(canary=1, batchSize=3, maxUnavailable=3, pauseSeconds=60)
    fleet.step(s, "v2", now=0)
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=1)  # step done at t=1, pause until t=61
    assert d.assignments == [] and d.conditions.reconciling.status
    assert "step 1 in 60s" in d.conditions.reconciling.message
    assert fleet.step(s, "v2", now=30).assignments == []
    assert len(fleet.step(s, "v2", now=61).assignments) == 3


def test_paused_rollout_assigns_nothing_and_resumes_where_it_stopped():
    fleet = SimFleet(10, "v1")
    s = strategy(canary=1, batchSize=3, maxUnavailable=3)
    fleet.step(s, "v2", now=0)
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=1, paused=True)
    assert d.assignments == []
    assert (d.conditions.ready.status, d.conditions.reconciling.status, d.conditions.stalled.status) == (
        False, False, False) and d.conditions.reconciling.reason == "Paused"
    assert len(fleet.step(s, "v2", now=2).assignments) == 3


def test_pause_lets_members_in_flight_finish_and_says_so():
    fleet = SimFleet(10, "v1")
    s = strategy(canary=2, batchSize=3, maxUnavailable=3)
    fleet.step(s, "v2", now=0)
    d = fleet.step(s, "v2", now=1, paused=True)
    assert d.assignments == [] and d.conditions.reconciling.status and d.progress.pending == 2
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=2, paused=True)
    assert d.progress.updated == 2 and not d.conditions.reconciling.status


def test_a_second_pass_with_the_same_inputs_does_nothing():
    fleet = SimFleet(8, None)
    s = strategy(canary=0, batchSize="100%", maxUnavailable="100%")
    assert len(fleet.step(s, "v1", now=0).assignments) == 8
    assert fleet.step(s, "v1", now=0).assignments == []


def test_initial_rollout_without_canary_sends_whole_batches():
    fleet = SimFleet(6, None)
    for dev in fleet.devices.values():
        dev.health = "unknown"  # no model installed yet: not unhealthy
    decisions = fleet.run(strategy(canary=0, batchSize=3, maxUnavailable=3), "v1")
    assert decisions[0].assignments and len(decisions[0].assignments) == 3
    assert decisions[-1].ready and fleet.record.last_good == "v1" and fleet.record.previous_good is None


def test_an_artifact_not_built_yet_waits_and_says_so():
    fleet = SimFleet(3, None)
    d = fleet.step(strategy(), None, now=0)
    assert d.assignments == [] and d.conditions.reconciling.reason == "AwaitingArtifacts"
