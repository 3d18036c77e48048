"""The chosen cut is the best of a brute-force evaluation of the cost model over every cut, for several
bandwidths and boards, and the choice moves toward the device as the bandwidth falls."""
from __future__ import annotations

import pytest

from controller.split import decide
from controller.split.cost import LinkSpeed
from specs.errors import StageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.model import SplitPolicy
from tests.split_digits import digits_profile
from tests.split_digits import trained_digits

pytestmark = pytest.mark.ml

BANDWIDTHS = [50e6, 2e6, 100e3, 10e3, 1e3]   # falling: Ethernet, Wi-Fi, BLE, slower radios
BOARDS = ["nano33ble", "pico", "esp32s3", "nano33ble-lite"]
WORKER = BUILTIN_PROFILES["rpi4"].spec.macsPerSecond


def _board(name):
    return trained_digits().repo.profiles[name]


def brute_force(profile, board, bandwidth, latency_s, reserve, objective="latency"):
    """Every cut costed from scratch with the documented formula; the feasible minimum (ties: all of them)."""
    spec = board.spec
    scored = []
    for cut in profile.cuts:
        if cut.edge_only:
            continue
        device = cut.head_macs / spec.macsPerSecond
        radio = 0.0 if cut.whole else (cut.crossing_bytes + cut.reply_bytes) / bandwidth
        latency = device if cut.whole else device + radio + 2 * latency_s + cut.tail_macs / WORKER
        value = device + radio if objective == "energy" else latency
        if cut.head_arena_bytes <= spec.ram - reserve and cut.head_flash_bytes <= spec.flash - reserve:
            scored.append((value, cut.layer))
    best = min(v for v, _ in scored)
    return best, {layer for v, layer in scored if abs(v - best) <= 1e-12}


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("board_name", BOARDS)
def test_choice_equals_bruteforce_for_every_bandwidth(board_name, objective):
    profile, board = digits_profile(), _board(board_name)
    policy = SplitPolicy(policy="auto", objective=objective)
    for bandwidth in BANDWIDTHS:
        decision = decide(profile, board, LinkSpeed(bandwidth, 0.001), policy, worker_macs=WORKER)
        best, layers = brute_force(profile, board, bandwidth, 0.001, policy.firmwareReserve, objective)
        assert decision.layer in layers, (board_name, bandwidth)
        assert decision.chosen.objective(objective) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("board_name", BOARDS)
def test_choice_moves_toward_the_device_as_bandwidth_falls(board_name):
    profile, board = digits_profile(), _board(board_name)
    chosen = [decide(profile, board, LinkSpeed(b, 0.001), SplitPolicy(), worker_macs=WORKER) for b in BANDWIDTHS]
    indices = [d.chosen.index for d in chosen]
    sent = [profile.cut(d.layer).crossing_bytes for d in chosen]
    assert indices == sorted(indices), f"cuts by falling bandwidth: {[d.layer for d in chosen]}"
    assert sent == sorted(sent, reverse=True)


def test_slow_board_splits_on_fast_links_and_keeps_the_whole_model_on_slow_ones():
    profile, pico = digits_profile(), _board("pico")
    fast = decide(profile, pico, LinkSpeed(50e6, 0.0001), SplitPolicy(), worker_macs=WORKER)
    slow = decide(profile, pico, LinkSpeed(1e3, 0.0001), SplitPolicy(), worker_macs=WORKER)
    assert fast.split and fast.chosen.latency_s < fast.baseline("device-only").latency_s
    assert not slow.split and slow.layer == profile.cuts[-1].layer


def test_policies_never_and_at():
    profile, lite, nano = digits_profile(), _board("nano33ble-lite"), _board("nano33ble")
    with pytest.raises(StageError, match="policy is never"):
        decide(profile, lite, LinkSpeed(1e5, 0.03), SplitPolicy(policy="never"))
    assert not decide(profile, nano, LinkSpeed(1e5, 0.03), SplitPolicy(policy="never")).split
    at = decide(profile, nano, LinkSpeed(1e5, 0.03), SplitPolicy(policy="at", at="conv_1"))
    assert at.layer == "conv_1" and at.split
    with pytest.raises(StageError, match="valid cuts: conv_0, pool_0"):
        decide(profile, nano, LinkSpeed(1e5, 0.03), SplitPolicy(policy="at", at="no-such-layer"))
    with pytest.raises(StageError, match="does not fit"):
        decide(profile, lite, LinkSpeed(1e5, 0.03), SplitPolicy(policy="at", at="flatten"))


def test_nothing_fits_names_the_smallest_head():
    profile, lite = digits_profile(), _board("nano33ble-lite")
    smallest = min((c for c in profile.cuts if not c.edge_only), key=lambda c: c.head_arena_bytes)
    reserve = lite.spec.ram - smallest.head_arena_bytes + 1
    with pytest.raises(StageError) as caught:
        decide(profile, lite, LinkSpeed(1e5, 0.03), SplitPolicy(), reserve=reserve)
    message = str(caught.value)
    assert f"'{smallest.layer}'" in message and "firmwareReserve" in message
