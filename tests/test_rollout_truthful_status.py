"""Rollout status tells the truth: offline members stay pending, a cut canary is not replaced, unhealthy
devices are neither chosen nor blamed, a device is updated only by what it proves (pure logic)."""
from __future__ import annotations

from controller.reconciler.conditions import Conditions
from specs.v1alpha1.fleet import Rollout
from tests.rollout_sim import SimFleet
from tests.rollout_sim import digest


def first_in_order(fleet: SimFleet, s: Rollout, version: str) -> str:
    """The member the stable order picks as canary (found on a copy of the fleet)."""
    probe = SimFleet(len(fleet.devices), "v1")
    return probe.step(s, version, now=0).assignments[0].device_id


def test_a_member_offline_through_a_commit_keeps_the_fleet_not_ready_until_it_returns_and_installs():
    fleet = SimFleet(3, "v1")
    s = Rollout(canary=1, batchSize="100%", maxUnavailable=3)
    fleet.set_online("d002", False, now=0)
    decisions = fleet.run(s, "v2", start=1, passes=20)
    last = decisions[-1]
    assert fleet.record.phase == "complete" and ("d002", "v2") not in {(d, v) for d, v, _ in fleet.sent}
    assert not last.ready and last.progress.updated == 2 and last.progress.offline == 1
    assert last.members["d002"].state == "waiting" and last.members["d002"].reason.startswith("offline since ")
    assert last.conditions.reconciling.status and "1 offline" in last.conditions.reconciling.message
    fleet.set_online("d002", True, now=50)  # it still runs v1: never "in sync"
    d = fleet.step(s, "v2", now=50)
    assert [(a.device_id, a.reason) for a in d.assignments] == [("d002", "join")] and not d.ready
    fleet.devices_answer()
    assert fleet.step(s, "v2", now=51).ready


def test_a_three_second_cut_on_the_canary_picks_no_second_canary_and_completes_nothing():
    fleet = SimFleet(5, "v1")
    s = Rollout(canary=1, batchSize=2, maxUnavailable=2, deviceTimeoutSeconds=30)
    canary = fleet.step(s, "v2", now=0).assignments[0].device_id
    fleet.set_online(canary, False, now=1)  # mid-transfer
    for t in (1, 2, 3, 4):
        d = fleet.step(s, "v2", now=t)
        assert d.assignments == [] and d.failures == []
        assert d.members[canary].state == "pending" and d.members[canary].offline
        assert "RolloutComplete" not in {n.reason for n in d.notes} and not d.ready
    fleet.set_online(canary, True, now=4)
    d = fleet.step(s, "v2", now=33)  # 33 s after the assignment, 29 s online again: not a timeout
    assert d.failures == [] and d.assignments == []
    fleet.devices_answer()
    decisions = fleet.run(s, "v2", start=34)
    assert decisions[-1].ready
    assert [r for _, v, r in fleet.sent if v == "v2"].count("canary") == 1


def test_an_offline_member_in_flight_counts_against_max_unavailable():
    fleet = SimFleet(6, "v1")
    s = Rollout(canary=1, batchSize=5, maxUnavailable=1)
    canary = fleet.step(s, "v2", now=0).assignments[0].device_id
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=1)
    batch_member = d.assignments[0].device_id
    fleet.set_online(batch_member, False, now=2)
    for t in range(2, 6):
        assert fleet.step(s, "v2", now=t).assignments == []  # its slot stays taken while it is away
    assert canary != batch_member


def test_an_unhealthy_device_is_never_chosen_as_canary_and_not_blamed():
    fleet = SimFleet(5, "v1")
    s = Rollout(canary=1, batchSize=2, maxUnavailable=2, failureThreshold=1)
    sick = first_in_order(fleet, s, "v2")
    fleet.devices[sick].health, fleet.devices[sick].health_reason = "failed", "sensor not responding"
    d = fleet.step(s, "v2", now=0)
    assert [a.reason for a in d.assignments] == ["canary"] and d.assignments[0].device_id != sick
    assert d.members[sick].reason == "health failed: sensor not responding" and d.progress.unhealthy == 1
    decisions = fleet.run(s, "v2", start=1)
    assert fleet.record.phase == "complete" and fleet.record.failures == []
    assert sick not in {dev for dev, _, _ in fleet.sent}
    assert not decisions[-1].ready and "1 unhealthy" in decisions[-1].conditions.reconciling.message
    fleet.devices[sick].health = "ok"  # it recovers on v1: then it gets v2
    decisions = fleet.run(s, "v2", start=300)
    assert decisions[-1].ready and (sick, "v2", "join") in fleet.sent


def test_a_device_reporting_another_digest_with_the_right_version_is_never_updated():
    fleet = SimFleet(3, "v1")
    s = Rollout(canary=1, batchSize=2, maxUnavailable=2, failureThreshold=1, deviceTimeoutSeconds=60)
    liar = first_in_order(fleet, s, "v2")
    fleet.devices[liar].lies = "3f2a" + "0" * 60  # it acknowledges the generation, runs something else
    fleet.step(s, "v2", now=0)
    for t in range(1, 60, 10):
        d = fleet.step(s, "v2", now=t)
        fleet.devices_answer()
        assert not d.members[liar].updated and d.members[liar].reason.startswith("reports digest 3f2a0000…")
        assert d.progress.updated == 0 and not d.ready
    d = fleet.step(s, "v2", now=61)  # no proof within deviceTimeoutSeconds while online: failed
    assert [f.device_id for f in d.failures] == [liar] and fleet.record.phase == "halted"


def test_a_replayed_report_of_an_older_generation_does_not_prove_the_assignment():
    fleet = SimFleet(2, "v1")
    s = Rollout(canary=1, batchSize=1, maxUnavailable=1)
    canary = fleet.step(s, "v2", now=0).assignments[0].device_id
    dev = fleet.devices[canary]
    dev.digest, dev.observed = digest("v2", dev.board), fleet.desired[canary].generation - 1
    d = fleet.step(s, "v2", now=1)
    assert d.members[canary].state == "pending" and "has not seen generation" in d.members[canary].reason


def test_completion_below_100_percent_is_ready_without_the_offline_member():
    fleet = SimFleet(5, "v1")
    fleet.set_online("d004", False, now=0)
    strict = fleet.run(Rollout(canary=1, batchSize=4, maxUnavailable=4), "v2", start=1, passes=10)[-1]
    assert not strict.ready and strict.progress.updated == 4
    tolerant = fleet.step(Rollout(canary=1, batchSize=4, maxUnavailable=4, completion="80%"), "v2", now=20)
    assert tolerant.ready and tolerant.conditions.ready.reason == "Converged"
    assert not tolerant.conditions.reconciling.status


def test_a_board_without_an_artifact_is_reported_and_stalls_the_fleet_once_the_rest_is_done():
    fleet = SimFleet(3, "v1")
    fleet.add("tiny", board="nano33ble")
    fleet.no_artifact.add(("v2", "nano33ble"))
    decisions = fleet.run(Rollout(canary=1, batchSize=3, maxUnavailable=3), "v2", passes=10)
    last = decisions[-1]
    assert "tiny" not in {d for d, v, _ in fleet.sent if v == "v2"}
    assert last.members["tiny"].unsupported and "no artifact of v2 for board nano33ble" in last.members["tiny"].reason
    assert last.conditions.stalled.status and last.conditions.stalled.reason == "NoArtifact"


def test_conditions_by_kstatus_rules_allow_at_most_one_true():
    assert Conditions.ready_("Converged", "").consistent and Conditions.stalled_("RolloutHalted", "x").consistent
    both = Conditions(Conditions.ready_("a", "").ready, Conditions.stalled_("b", "").reconciling,
                      Conditions.stalled_("b", "").stalled)
    assert not both.consistent


def test_a_member_that_turns_unhealthy_on_its_old_model_while_pending_is_not_blamed():
    fleet = SimFleet(3, "v1")
    s = Rollout(canary=1, batchSize=2, maxUnavailable=1, failureThreshold=1, deviceTimeoutSeconds=30)
    canary = fleet.step(s, "v2", now=0).assignments[0].device_id
    fleet.devices[canary].health, fleet.devices[canary].health_reason = "degraded", "battery low"
    d = fleet.step(s, "v2", now=100)
    assert d.failures == [] and fleet.record.phase == "progressing"
    assert d.members[canary].state == "pending" and d.members[canary].reason == "health degraded: battery low"
    assert "battery low" in d.conditions.reconciling.message


def test_what_a_device_says_about_itself_is_quoted_bounded():
    fleet = SimFleet(2, "v1")
    dev = fleet.devices["d000"]
    dev.health, dev.health_reason, dev.online, dev.last_seen = "failed", "x" * 5000, False, 1e300
    d = fleet.step(Rollout(), "v1", now=0)
    assert d.members["d000"].reason == "offline since an unknown time"
    fleet.set_online("d000", True, now=1)
    reason = fleet.step(Rollout(), "v1", now=1).members["d000"].reason
    assert reason.startswith("health failed: xxx") and len(reason) < 200
