"""A BLE link's figures in the cost model: the split choice prices the crossing tensor at BLE's rate, and a
Fleet's rollout gives a device long enough to receive its artifact over a slow link."""
from __future__ import annotations

import pytest

from controller.reconciler.fleets import _link_aware
from controller.split.cost import LinkSpeed
from controller.split.cost import ble_link
from controller.split.cost import rollout_timeout
from controller.split.cost import transfer_seconds
from specs.v1alpha1.fleet import FleetSpec
from wire.ble_air import PREFERRED_ATT_MTU
from wire.ble_air import theoretical_rate


def test_a_ble_link_is_the_air_time_ceiling_and_one_interval_per_message():
    link = ble_link()
    assert link.bandwidth == theoretical_rate(PREFERRED_ATT_MTU) and link.latency_s == pytest.approx(0.015)
    assert ble_link(phy_mbps=2).bandwidth > link.bandwidth > ble_link(packets_per_event=2).bandwidth


@pytest.mark.ml
def test_the_split_choice_keeps_more_on_the_board_over_ble_than_over_wifi():
    from controller.split import decide
    from specs.v1alpha1.catalogue import BUILTIN_PROFILES
    from specs.v1alpha1.model import SplitPolicy
    from tests.split_digits import digits_profile
    from tests.split_digits import trained_digits

    profile, nano = digits_profile(), trained_digits().repo.profiles["nano33ble"]
    worker = BUILTIN_PROFILES["rpi4"].spec.macsPerSecond
    wifi = decide(profile, nano, LinkSpeed(2e6, 0.02), SplitPolicy(), worker_macs=worker)
    ble = decide(profile, nano, ble_link(), SplitPolicy(), worker_macs=worker)
    assert ble.chosen.index >= wifi.chosen.index
    crossing = profile.cut(ble.layer).crossing_bytes + profile.cut(ble.layer).reply_bytes
    if ble.split:
        assert ble.chosen.transfer_s == pytest.approx(crossing / ble_link().bandwidth + 2 * 0.015)


def test_transfer_time_counts_the_bytes_and_an_ack_round_trip_per_chunk():
    link = LinkSpeed(bandwidth=10_000, latency_s=0.015)
    assert transfer_seconds(81_920, link, chunk_size=8192) == pytest.approx(8.192 + 10 * 0.03)


def test_a_slow_link_raises_the_rollout_timeout_and_a_fast_one_leaves_it():
    assert rollout_timeout(300, 5_000_000, LinkSpeed(10_000, 0.015)) > 1500
    assert rollout_timeout(300, 58_808, ble_link()) == 300


def test_a_fleet_rollout_gets_time_for_its_largest_artifact_over_its_link():
    releases = {"v1": {"nano33ble": {"digest": "a" * 64, "size": 2_000_000}},
                "v2": {"nano33ble": {"digest": "b" * 64, "size": 60_000}}}
    slow = FleetSpec.model_validate({"model": "m", "link": {"bandwidth": 5_000, "latencyMs": 30}})
    assert _link_aware(slow, releases).deviceTimeoutSeconds == pytest.approx(
        3 * transfer_seconds(2_000_000, LinkSpeed(5_000, 0.03)))
    fast = FleetSpec.model_validate({"model": "m"})
    assert _link_aware(fast, releases) is fast.rollout
