"""A model that fails its health check is rolled back: the previous slot is active again and
the state says why; a model LiteRT cannot load fails the real health check."""
from __future__ import annotations

from device.virtual.linux_board import Faults
from tests.device_rig import model_bytes


def test_failed_health_check_rolls_back_to_previous_slot(rig):
    faults = Faults()
    board = rig.board("rb-1", faults=faults)
    good = rig.deploy("rb-1", model_bytes(2_000, seed=7), "1")
    before = rig.wait_state("rb-1", lambda s: s.modelDigest == good.digest)
    faults.fail_health = True
    bad = rig.deploy("rb-1", model_bytes(4_000, seed=8), "2")
    state = rig.wait_state("rb-1", lambda s: s.lastUpdate is not None and s.lastUpdate.digest == bad.digest)
    assert state.lastUpdate.outcome == "rolled-back"
    assert "health check failed" in state.lastUpdate.reason and "injected fault" in state.lastUpdate.reason
    assert state.activeSlot == before.activeSlot and state.modelDigest == good.digest and state.health == "ok"
    record = board.agent.slots.record()
    assert record.active == before.activeSlot and not record.trial


def test_model_litert_cannot_load_fails_real_health_check(rig):
    board = rig.board("rb-2")
    good = rig.deploy("rb-2", model_bytes(0), "1")
    rig.wait_state("rb-2", lambda s: s.modelDigest == good.digest)
    garbage = rig.deploy("rb-2", b"this is not a flatbuffer" * 100, "2")
    state = rig.wait_state("rb-2", lambda s: s.lastUpdate is not None and s.lastUpdate.digest == garbage.digest)
    assert state.lastUpdate.outcome == "rolled-back" and "LiteRT" in state.lastUpdate.reason
    assert state.modelDigest == good.digest
    assert board.agent.slots.manifest(board.agent.slots.record().active).digest == good.digest
