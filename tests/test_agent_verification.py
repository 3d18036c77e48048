"""An unsigned, wrongly signed or tampered artifact is rejected and never installed."""
from __future__ import annotations

from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from specs.v1alpha1.protocol import SignedManifest
from tests.device_rig import model_bytes


def _installed(board) -> list[str]:
    return [slot.digest for slot in board.agent.slots.states() if slot.digest]


def test_manifest_signed_by_another_key_is_rejected_before_download(rig, tmp_path):
    board = rig.board("ver-1")
    rogue = Signer.load_or_create(tmp_path / "rogue")
    manifest = rig.deploy("ver-1", model_bytes(20_000, seed=3), "1", signer=rogue)
    state = rig.wait_state("ver-1", lambda s: s.lastUpdate is not None)
    assert state.lastUpdate.outcome == "rejected" and "trusts key" in state.lastUpdate.reason
    assert state.modelDigest is None and _installed(board) == []
    assert ("ver-1", manifest.digest) not in rig.hub.sender.stats  # nothing was even downloaded


def test_unsigned_manifest_is_rejected(rig):
    board = rig.board("ver-2")
    manifest = rig.manifest(model_bytes(5_000, seed=4), "1")
    good = rig.signer.sign(manifest)
    unsigned = SignedManifest(manifest=manifest, signature="", keyId=rig.signer.key_id)
    desired = desired_state(rig.signer, "ver-2", 1, None).model_copy(update={"artifact": unsigned})
    rig.hub.set_desired("ver-2", desired)
    state = rig.wait_state("ver-2", lambda s: s.lastUpdate is not None)
    assert state.lastUpdate.outcome == "rejected" and "invalid signature" in state.lastUpdate.reason
    # Altering a signed manifest (a bigger size) breaks the signature just the same.
    altered = SignedManifest(manifest=manifest.model_copy(update={"version": "2"}), signature=good.signature,
                             keyId=good.keyId)
    rig.hub.set_desired("ver-2", desired.model_copy(update={"artifact": altered, "generation": 2}))
    state = rig.wait_state("ver-2", lambda s: s.observedGeneration == 2)
    assert state.lastUpdate.outcome == "rejected" and _installed(board) == []


def test_tampered_artifact_in_store_is_rejected_and_never_installed(rig):
    board = rig.board("ver-3")
    first = rig.deploy("ver-3", model_bytes(3_000, seed=5), "1")
    rig.wait_state("ver-3", lambda s: s.modelDigest == first.digest)
    data = model_bytes(50_000, seed=6)
    manifest = rig.manifest(data, "2")
    path = rig.store.path(manifest.digest)
    path.chmod(0o644)
    tampered = bytearray(data)
    tampered[-100] ^= 0x01           # same size, one bit flipped: every chunk digest still matches its bytes
    path.write_bytes(bytes(tampered))
    rig.hub.set_desired("ver-3", desired_state(rig.signer, "ver-3", 7, manifest, chunk_size=16 * 1024))
    state = rig.wait_state("ver-3", lambda s: s.observedGeneration == 7 and s.lastUpdate.digest == manifest.digest)
    assert state.lastUpdate.outcome == "rejected" and "sha256" in state.lastUpdate.reason
    assert state.modelDigest == first.digest and manifest.digest not in _installed(board)
    assert not list((board.agent.downloads).glob("*"))  # the bad bytes are gone too
