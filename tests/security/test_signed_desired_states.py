"""Desired states that cannot be replayed, poisoned or misdirected (issue 12), one test per attack.

The attacker can publish on a device's `desired` topic (a broker without ACLs, or a leaked
controller credential), keeps every retained desired state it ever saw, but holds no trusted
signing key. Real parts: the session Mosquitto, the real device agent on a temporary disk, the
controller's `DeviceHub` and `Signer`.
"""
from __future__ import annotations

import base64
import json
import time

import pytest

from controller.devices import signing
from controller.devices.signing import Signer
from specs.v1alpha1.protocol import KeyAnnouncement
from specs.v1alpha1.protocol import desired_topic
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import keys_topic
from tests.device_rig import model_bytes
from tests.security.attacker import assert_clean_refusal
from tests.security.attacker import origami
from wire.mqtt import MqttLink


@pytest.fixture
def attacker(mosquitto):
    link = MqttLink("attacker", mosquitto.url).start(10)
    yield link
    link.publish_and_wait(keys_topic(), b"", retain=True)   # the session broker keeps no announcement
    link.stop()


def _installed(board) -> set[str]:
    return {slot.digest for slot in board.agent.slots.states() if slot.digest}


def _deploy(rig, device_id: str, seed: int, version: str):
    """A genuine update, installed; returns the desired state the attacker saw on the wire."""
    manifest = rig.manifest(model_bytes(4_000, seed=seed), version)
    rig.generation += 1
    desired = rig.desired(device_id, manifest, chunk_size=16 * 1024)
    rig.hub.set_desired(device_id, desired)
    rig.wait_state(device_id, lambda s: s.modelDigest == manifest.digest and s.lastUpdate.outcome == "installed")
    return desired


def test_replayed_desired_state_is_refused_even_with_a_higher_generation_and_after_a_restart(rig, attacker, tmp_path):
    board = rig.board("replay-1")
    old = _deploy(rig, "replay-1", seed=1, version="1")
    new = _deploy(rig, "replay-1", seed=2, version="2")
    before = rig.hub.states()["replay-1"]

    # The old signed desired state, its generation raised so it looks newer: the signature covers it.
    bumped = json.loads(encode(old)) | {"generation": 99}
    attacker.publish_and_wait(desired_topic("replay-1"), json.dumps(bumped).encode(), retain=True)
    assert "invalid signature" in rig.wait_event("replay-1", "SignatureInvalid").message
    # The old one exactly as signed: a valid signature, but an older sequence.
    attacker.publish_and_wait(desired_topic("replay-1"), encode(old), retain=True)
    event = rig.wait_event("replay-1", "Replayed")
    assert event.type == "Warning" and str(old.sequence) in event.message
    state = rig.hub.states()["replay-1"]
    assert state.modelDigest == new.artifact.manifest.digest and state.observedGeneration == new.generation
    assert state.lastUpdate == before.lastUpdate and board.agent._desired == new

    # The device restarts (the replay is still retained): the sequence it applied was persisted.
    board.stop()
    rig.boards.remove(board)
    board = rig.board("replay-1")
    assert rig.wait_event("replay-1", "Replayed").type == "Warning"
    assert board.agent.slots.active_manifest().digest == new.artifact.manifest.digest   # nothing installed
    assert board.agent._desired is None and board.agent.guard.last_sequence == new.sequence


def test_forged_desired_state_cannot_poison_the_genuine_one(rig, attacker):
    board = rig.board("poison-1")
    manifest = rig.manifest(model_bytes(6_000, seed=3), "1")
    rig.generation = 1
    genuine = rig.desired("poison-1", manifest, chunk_size=16 * 1024)
    # Same digest, same everything, a signature that is not the controller's.
    forged = json.loads(encode(genuine)) | {"signature": base64.b64encode(b"\x00" * 64).decode()}
    attacker.publish_and_wait(desired_topic("poison-1"), json.dumps(forged).encode(), retain=True)
    rig.wait_event("poison-1", "SignatureInvalid")
    assert board.agent._refused == {} and rig.hub.states()["poison-1"].lastUpdate is None

    rig.hub.set_desired("poison-1", genuine)
    state = rig.wait_state("poison-1", lambda s: s.modelDigest == manifest.digest)
    assert state.lastUpdate.outcome == "installed" and _installed(board) == {manifest.digest}


def test_desired_state_signed_for_another_device_or_board_is_refused(rig, attacker):
    board = rig.board("victim-1")
    rig.board("other-1")
    manifest = rig.manifest(model_bytes(5_000, seed=4), "1")
    rig.generation = 1
    for_other = rig.desired("other-1", manifest)            # genuinely signed, for device other-1
    attacker.publish_and_wait(desired_topic("victim-1"), encode(for_other), retain=True)
    assert "other-1" in rig.wait_event("victim-1", "NotForThisDevice").message
    # For this device id, but for another board class (what a board-specific artifact would say).
    other_board = rig.signer.sign_desired(rig.desired("victim-1", manifest).model_copy(update={"board": "jetson-nano"}))
    attacker.publish_and_wait(desired_topic("victim-1"), encode(other_board), retain=True)
    assert "jetson-nano" in rig.wait_event("victim-1", "NotForThisBoard").message
    state = rig.hub.states()["victim-1"]
    assert state.lastUpdate is None and state.observedGeneration == -1 and _installed(board) == set()
    assert board.agent.guard.last_sequence == 0


def test_rotated_key_is_trusted_after_the_announcement_and_a_rogue_announcement_is_refused(rig, attacker, tmp_path):
    board = rig.board("rotate-1")
    _deploy(rig, "rotate-1", seed=5, version="1")
    old_id, new_id = signing.rotate(tmp_path / "controller")
    rotated = Signer.load_or_create(tmp_path / "controller")
    assert rotated.key_id == new_id != old_id and [e.signedBy for e in rotated.endorsements] == [old_id]

    # Before the announcement the device does not know the new key.
    manifest = rig.manifest(model_bytes(5_000, seed=6), "2")
    rig.generation += 1
    rig.hub.set_desired("rotate-1", rig.desired("rotate-1", manifest, signer=rotated))
    assert "does not trust" in rig.wait_event("rotate-1", "SignatureInvalid").message

    # A rogue announcement: the attacker's key, endorsed by the attacker's own key.
    rogue = Signer.load_or_create(tmp_path / "rogue")
    rogue_next = Signer.load_or_create(tmp_path / "rogue-next")
    attacker.publish_and_wait(keys_topic(), encode(KeyAnnouncement(keys=[rogue.endorse(rogue_next.public_key)])),
                              retain=True)
    assert rogue.key_id in rig.wait_event("rotate-1", "KeyNotTrusted").message
    assert set(board.agent.keyring.keys()) == {old_id}

    rig.hub.announce_keys(rotated.announcement())   # retained: a device offline now learns it on connect
    deadline = time.monotonic() + 20
    while rig.hub.hellos()["rotate-1"].publicKeyId != new_id and time.monotonic() < deadline:
        time.sleep(0.02)   # the device says hello again, naming the newest key it trusts
    rig.generation += 1
    rig.hub.set_desired("rotate-1", rig.desired("rotate-1", manifest, signer=rotated))
    state = rig.wait_state("rotate-1", lambda s: s.modelDigest == manifest.digest)
    assert state.lastUpdate.outcome == "installed"
    assert set(board.agent.keyring.keys()) == {old_id, new_id}
    # The device remembers the key across a restart (persisted beside its slots).
    board.stop()
    rig.boards.remove(board)
    assert set(rig.board("rotate-1").agent.keyring.keys()) == {old_id, new_id}


def test_encrypted_signing_key_with_a_wrong_or_missing_passphrase_is_a_clear_error(tmp_path):
    state = tmp_path / "state"
    Signer.load_or_create(state, b"correct horse battery staple")
    assert b"ENCRYPTED PRIVATE KEY" in (state / "keys" / signing.PRIVATE_KEY_FILE).read_bytes()
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("Tr0ub4dor&3\n")

    done = origami("keys", "rotate", "--state-dir", str(state), "--key-passphrase-file", str(wrong))
    output = assert_clean_refusal(done, tmp_path)
    assert "passphrase does not decrypt" in output and "Tr0ub4dor" not in output
    done = origami("keys", "rotate", "--state-dir", str(state))
    assert "encrypted and no passphrase was given" in assert_clean_refusal(done, tmp_path)
    assert signing.key_ids(state)["endorsements"] == []    # nothing rotated
    right = tmp_path / "passphrase"
    right.write_text("correct horse battery staple\n")
    done = origami("keys", "rotate", "--state-dir", str(state), "--key-passphrase-file", str(right))
    assert done.returncode == 0, done.stderr
    shown = origami("keys", "show", "--state-dir", str(state), "-o", "json")
    info = json.loads(shown.stdout)
    assert info["encrypted"] and len(info["retired"]) == 1 and info["endorsements"][0]["keyId"] == info["current"]
