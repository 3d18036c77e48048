"""Attack: whoever controls the static artifact server (or a cache in front of it) replaces the
published file with other bytes of the same size. The device fetches it by the signed URL, finds
that its sha256 is not the signed digest, refuses it and installs nothing."""
from __future__ import annotations

from controller.store.publish import DirectoryPublisher
from tests.device_rig import model_bytes


def test_tampered_file_on_the_artifact_server_is_refused(rig, nginx):
    board = rig.board("http-evil")
    data = model_bytes(100_000, seed=23)
    manifest = rig.manifest(data, "1")
    url = DirectoryPublisher(nginx.root, nginx.url, rig.store).publish(manifest.digest)
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0xFF
    (nginx.root / manifest.digest).write_bytes(bytes(tampered))  # the attacker's file, same size

    rig.generation += 1
    rig.hub.set_desired("http-evil", rig.desired("http-evil", manifest, artifactUrl=url))
    event = rig.wait_event("http-evil", "DigestMismatch", timeout=30)
    assert event.type == "Warning" and event.digest == manifest.digest
    state = rig.wait_state("http-evil", lambda s: s.lastUpdate is not None)
    assert state.lastUpdate.outcome == "rejected" and state.modelDigest is None
    assert board.agent.slots.record().active is None, "nothing installed"
    downloads = board.agent.downloads
    assert not any(downloads.glob(f"{manifest.digest}*")), "the tampered bytes were discarded"
    assert any(status == 206 for _, status, _, _ in nginx.requests()), "it really came from nginx"
