"""A rogue central in radio range: it finds a BLE board by its advertisement, connects (no pairing, as
docs/ble.md says) and pushes a model. The board's own checks refuse it: a manifest not signed by the
controller's key, or genuine signed bytes rewritten on the way. Nothing is installed, the running
model stays, and the refusal names the reason."""
from __future__ import annotations

import pytest

from controller.devices.signing import Signer
from device.ble_radio import VirtualAir
from device.gateway import BoardLink
from device.gateway.ble_link import BleCentral
from device.serial_frames import AckStatus
from device.virtual.ble_board import VirtualBleBoard
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import sha256_hex
from tests.tiny_tflite import dense_int8


def _manifest(signer: Signer, model: bytes, version: str) -> bytes:
    return encode(signer.sign(Manifest(name="m", version=version, digest=sha256_hex(model), size=len(model),
                                       target=Target(runtime="tflm", board="nano33ble"))))


@pytest.fixture
def board_with_a_model(tmp_path):
    """A BLE board running version 1 from the real controller key; the rogue's own central on the air."""
    controller = Signer.load_or_create(tmp_path / "controller")
    air = VirtualAir()
    board = VirtualBleBoard(BUILTIN_PROFILES["nano33ble"], "nano-ble-victim", tmp_path / "board",
                            controller.public_key, air=air).start()
    rogue = BleCentral.virtual(air)
    link = BoardLink(rogue.open(rogue.scan(5, stop_after=1)[0]))
    good = dense_int8()
    assert link.send_model(_manifest(controller, good, "1"), good).status is AckStatus.INSTALLED
    yield controller, board, link, good
    link.close()
    board.stop()
    rogue.close()
    air.close()


def test_a_model_signed_by_another_key_is_refused_before_any_byte(board_with_a_model, tmp_path):
    _, board, link, good = board_with_a_model
    attacker = Signer.load_or_create(tmp_path / "attacker")
    evil = dense_int8(units=24)
    outcome = link.send_model(_manifest(attacker, evil, "666"), evil)
    assert outcome.status is AckStatus.REFUSED and outcome.bytes_sent == 0
    assert [e["reason"] for e in outcome.events] == ["SignatureInvalid"]
    assert board.active_model()["digest"] == sha256_hex(good) and board.installs == 1
    assert not (board.storage / "staging.bin").exists()  # nothing of the forged model was even staged


def test_genuine_signed_bytes_rewritten_on_the_way_are_refused_by_the_digest(board_with_a_model):
    controller, board, link, good = board_with_a_model
    genuine = dense_int8(units=24)
    rewritten = genuine[:-1] + bytes([genuine[-1] ^ 0xFF])  # same size, valid frame CRCs: only sha256 can tell
    outcome = link.send_model(_manifest(controller, genuine, "2"), rewritten, chunk_size=512)
    assert outcome.status is AckStatus.REFUSED
    [event] = outcome.events
    assert event["reason"] == "DigestMismatch" and "signed manifest" in event["message"]
    assert board.active_model()["digest"] == sha256_hex(good) and board.installs == 1
    _, state = link.query()
    assert state["modelVersion"] == "1" and state["lastUpdate"]["outcome"] == "rejected"
