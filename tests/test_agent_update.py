"""A virtual Linux board (the real agent) installs a signed model, reports it, and the
controller sees the new version; an update to the same digest is a no-op."""
from __future__ import annotations

from tests.device_rig import model_bytes


def test_board_says_hello_and_installs_signed_model(rig):
    board = rig.board("upd-1", labels={"site": "lab"})
    rig.wait_state("upd-1", lambda s: s.health == "unknown")
    hello = rig.hub.hellos()["upd-1"]
    assert hello.capabilities.family == "linux" and hello.labels == {"site": "lab"}
    assert hello.publicKeyId == rig.signer.key_id
    data = model_bytes(40_000, seed=1)
    manifest = rig.deploy("upd-1", data, "1")
    state = rig.wait_state("upd-1", lambda s: s.modelDigest == manifest.digest)
    assert state.health == "ok" and state.lastUpdate.outcome == "installed"
    assert state.observedGeneration == rig.generation
    assert board.agent.slots.model_path(state.activeSlot).read_bytes() == data
    assert rig.hub.online()["upd-1"] is True
    # A second version goes into the other slot; the first stays as the one to roll back to.
    second = rig.deploy("upd-1", model_bytes(10_000, seed=2), "2")
    state = rig.wait_state("upd-1", lambda s: s.modelDigest == second.digest)
    assert {slot.version for slot in state.slots} == {"1", "2"}
