"""An unsigned, wrongly signed or tampered artifact is rejected and never installed."""
from __future__ import annotations

from controller.devices.signing import Signer
from specs.v1alpha1.protocol import SignedManifest
from tests.device_rig import model_bytes


def _installed(board) -> list[str]:
    return [slot.digest for slot in board.agent.slots.states() if slot.digest]


def test_desired_state_signed_by_another_key_is_ignored_before_download(rig, tmp_path):
    board = rig.board("ver-1")
    rogue = Signer.load_or_create(tmp_path / "rogue")
    manifest = rig.deploy("ver-1", model_bytes(20_000, seed=3), "1", signer=rogue)
    event = rig.wait_event("ver-1", "SignatureInvalid")
    assert event.type == "Warning" and "does not trust" in event.message
    state = rig.hub.states()["ver-1"]
    assert state.lastUpdate is None and state.observedGeneration == -1  # nothing about the device changed
    assert state.modelDigest is None and _installed(board) == []
    assert ("ver-1", manifest.digest) not in rig.hub.sender.stats  # nothing was even downloaded


def test_unsigned_or_altered_manifest_inside_a_signed_desired_state_is_ignored(rig):
    board = rig.board("ver-2")
    manifest = rig.manifest(model_bytes(5_000, seed=4), "1")
    good = rig.signer.sign(manifest)
    unsigned = SignedManifest(manifest=manifest, signature="", keyId=rig.signer.key_id)
    # The whole desired state is signed by the controller, but the manifest inside is not.
    desired = rig.signer.sign_desired(rig.desired("ver-2", None).model_copy(update={"artifact": unsigned}))
    rig.hub.set_desired("ver-2", desired)
    assert "invalid signature" in rig.wait_event("ver-2", "SignatureInvalid").message
    # Altering a signed manifest (another version) breaks its signature just the same.
    altered = SignedManifest(manifest=manifest.model_copy(update={"version": "2"}), signature=good.signature,
                             keyId=good.keyId)
    rig.hub.set_desired("ver-2", rig.signer.sign_desired(rig.desired("ver-2", None).model_copy(
        update={"artifact": altered})))
    genuine = rig.deploy("ver-2", model_bytes(5_000, seed=4), "1")
    state = rig.wait_state("ver-2", lambda s: s.modelDigest == genuine.digest)
    assert state.lastUpdate.outcome == "installed" and _installed(board) == [genuine.digest]


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
    rig.generation = 7
    rig.hub.set_desired("ver-3", rig.desired("ver-3", manifest, chunk_size=16 * 1024))
    state = rig.wait_state("ver-3", lambda s: s.observedGeneration == 7 and s.lastUpdate.digest == manifest.digest)
    assert state.lastUpdate.outcome == "rejected" and "sha256" in state.lastUpdate.reason
    assert state.modelDigest == first.digest and manifest.digest not in _installed(board)
    assert not list((board.agent.downloads).glob("*"))  # the bad bytes are gone too
