"""Rollout: members join and leave at any time, drift is driven back, selectors pick members."""
from __future__ import annotations

from controller.planning.membership import assign_fleets
from controller.reconciler.strategy import resolve
from controller.reconciler.strategy import resolve_strategy
from controller.state.records import DeviceRecord
from specs.v1alpha1 import Fleet
from specs.v1alpha1.fleet import Rollout
from tests.rollout_sim import SimFleet
from tests.rollout_sim import digest


def test_a_device_joining_a_converged_fleet_gets_the_current_version():
    fleet = SimFleet(5, "v1")
    fleet.add("new")
    d = fleet.step(Rollout(), "v1", now=0)
    assert [(a.device_id, a.version, a.reason) for a in d.assignments] == [("new", "v1", "join")]
    assert not d.ready and d.conditions.reconciling.status
    fleet.devices_answer()
    assert fleet.step(Rollout(), "v1", now=1).ready


def test_a_device_joining_mid_rollout_is_picked_up_by_a_later_batch():
    fleet = SimFleet(4, "v1")
    s = Rollout(canary=1, batchSize=2, maxUnavailable=2)
    fleet.step(s, "v2", now=0)
    fleet.add("late")
    decisions = fleet.run(s, "v2", start=1)
    assert decisions[-1].ready
    assert ("late", "v2", "batch") in fleet.sent


def test_a_device_leaving_does_not_block_the_rollout():
    fleet = SimFleet(4, "v1")
    s = Rollout(canary=1, batchSize=3, maxUnavailable=3, failureThreshold=1)
    fleet.step(s, "v2", now=0)
    fleet.devices_answer()
    d = fleet.step(s, "v2", now=1)
    fleet.remove(d.assignments[0].device_id)  # it left before answering
    decisions = fleet.run(s, "v2", start=2)
    assert decisions[-1].ready and fleet.record.phase == "complete"


def test_drift_is_driven_back_to_the_desired_version():
    fleet = SimFleet(3, "v1")
    fleet.devices["d001"].digest = digest("v0", "rpi4")  # someone flashed it by hand
    d = fleet.step(Rollout(), "v1", now=0)
    assert [(a.device_id, a.reason) for a in d.assignments] == [("d001", "drift")]
    assert d.members["d001"].reason.startswith("reports digest ")
    assert fleet.step(Rollout(), "v1", now=1).assignments == []  # not resent while in flight
    fleet.devices_answer()
    assert fleet.step(Rollout(), "v1", now=2).ready


def test_percentages_round_up_and_counts_cap_at_the_fleet_size():
    assert resolve("10%", 5) == 1 and resolve("25%", 20) == 5 and resolve(50, 7) == 7
    s = resolve_strategy(Rollout(canary="0%", batchSize="1%", maxUnavailable=0, failureThreshold="10%"), 3)
    assert (s.canary, s.batch, s.in_flight, s.failure_threshold) == (0, 1, 1, 1)


def _device(i, board, labels=None, online=True):
    return DeviceRecord(f"dev{i}", board, labels or {}, {}, {}, None, None, online, 0.0, 0.0)


def _fleet(name, boards, labels=None):
    return Fleet.model_validate({"apiVersion": "origami/v1alpha1", "kind": "Fleet", "metadata": {"name": name},
                                 "spec": {"model": "m", "selector": {"boards": boards, "matchLabels": labels or {}}}})


def test_selector_matches_boards_and_labels_of_devices_that_said_hello_offline_ones_included():
    fleets = {"a": _fleet("a", ["rpi4"], {"site": "lab"}), "b": _fleet("b", ["pico"])}
    devices = [_device(1, "rpi4", {"site": "lab"}), _device(2, "rpi4", {"site": "home"}), _device(3, "pico"),
               _device(4, None), _device(5, "pico", online=False)]
    members, conflicts = assign_fleets(fleets, devices)
    assert [d.device_id for d in members["a"]] == ["dev1"]
    assert [d.device_id for d in members["b"]] == ["dev3", "dev5"]  # away, not gone: it stays pending
    assert conflicts == {}


def test_a_device_claimed_by_two_fleets_joins_one_and_the_conflict_is_reported():
    fleets = {"a": _fleet("a", ["rpi4"]), "b": _fleet("b", [])}
    members, conflicts = assign_fleets(fleets, [_device(1, "rpi4")])
    assert [d.device_id for d in members["a"]] == ["dev1"] and members["b"] == [] and conflicts == {"b": ["dev1"]}
