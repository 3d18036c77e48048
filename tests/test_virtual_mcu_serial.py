"""A virtual microcontroller behind a real pseudo-terminal, driven over pyserial by the gateway's BoardLink."""
from __future__ import annotations

import pytest

from controller.devices.signing import Signer
from device.gateway import BoardLink
from device.serial_frames import AckStatus
from device.virtual.mcu_board import Faults
from device.virtual.mcu_board import VirtualMCU
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SignedManifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import sha256_hex
from tests.tiny_tflite import dense_int8
from tests.tiny_tflite import wide_conv_int8


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> Signer:
    return Signer.load_or_create(tmp_path_factory.mktemp("controller"))


def signed(signer: Signer, model: bytes, version: str, board: str = "pico") -> SignedManifest:
    return signer.sign(Manifest(name="tiny", version=version, digest=sha256_hex(model), size=len(model),
                                target=Target(runtime="tflm", board=board)))


@pytest.fixture
def board(tmp_path, signer):
    def make(faults: Faults | None = None, profile: str = "pico") -> tuple[VirtualMCU, BoardLink]:
        mcu = VirtualMCU(BUILTIN_PROFILES[profile], f"{profile}-1", tmp_path / profile, signer.public_key,
                         faults=faults).start()
        link = BoardLink(mcu.port)
        made.append((mcu, link))
        return mcu, link

    made: list = []
    yield make
    for mcu, link in made:
        link.close()
        mcu.stop()


def test_esp32s3_says_it_is_a_virtual_board_not_firmware(board):
    # No Xtensa emulator here: the ESP32-S3 stays on the virtual board, and its hello (the device's
    # `arch` in `origami describe device`) says so.
    _, link = board(profile="esp32s3")
    hello, _ = link.query()
    assert hello["cpu"] == "Xtensa LX7 (ESP32-S3), virtual board: TFLM in Python, no firmware"


def test_identified_then_installs_a_model_and_reports_its_version(board, signer):
    mcu, link = board()
    hello, state = link.query()
    assert hello["profile"] == "pico" and hello["usb"] == "2e8a:000a" and hello["ram"] == 264 * 1024
    assert state["modelDigest"] is None
    model = dense_int8()
    outcome = link.send_model(encode(signed(signer, model, "1")), model, chunk_size=1024)
    assert outcome.status is AckStatus.INSTALLED, outcome.events
    _, state = link.query()
    assert state["modelVersion"] == "1" and state["modelDigest"] == sha256_hex(model)
    assert state["health"] == "ok" and state["activeSlot"] == "a"
    assert outcome.bytes_sent == len(model) and outcome.resends == 0
    # The same artifact again is a no-op: nothing is sent, nothing reinstalled.
    again = link.send_model(encode(signed(signer, model, "1")), model)
    assert again.status is AckStatus.INSTALLED and again.bytes_sent == 0 and mcu.installs == 1


def test_a_model_too_large_for_the_boards_ram_is_refused_with_the_reason(board, signer):
    mcu, link = board()
    model = wide_conv_int8()
    outcome = link.send_model(encode(signed(signer, model, "big")), model)
    assert outcome.status is AckStatus.REFUSED
    [event] = outcome.events
    assert event["reason"] == "ModelTooLarge" and "tensor arena" in event["message"] and "pico" in event["message"]
    _, state = link.query()
    assert state["modelDigest"] is None and state["lastUpdate"]["outcome"] == "rejected"
    assert mcu.installs == 0


def test_tampered_manifest_is_refused_before_any_byte_is_sent(board, signer):
    _, link = board()
    model = dense_int8()
    good = signed(signer, model, "1")
    forged = SignedManifest(manifest=good.manifest.model_copy(update={"version": "2"}), signature=good.signature,
                            keyId=good.keyId)
    outcome = link.send_model(encode(forged), model)
    assert outcome.status is AckStatus.REFUSED and outcome.bytes_sent == 0
    assert outcome.events[0]["reason"] == "SignatureInvalid"


def test_corrupted_chunks_are_caught_by_crc_and_resent(board, signer):
    mcu, link = board(Faults(corrupt_chunks=2))
    model = dense_int8()
    outcome = link.send_model(encode(signed(signer, model, "1")), model, chunk_size=512)
    assert outcome.status is AckStatus.INSTALLED
    assert outcome.resends >= 2 and mcu.decoder.crc_errors + mcu.decoder.header_errors >= 2
    assert mcu.active_model()["digest"] == sha256_hex(model)


def test_failed_health_check_rolls_back_to_the_previous_slot(board, signer):
    mcu, link = board()
    first, second = dense_int8(), dense_int8(units=24)
    assert link.send_model(encode(signed(signer, first, "1")), first).status is AckStatus.INSTALLED
    mcu.faults.fail_health_check = True
    outcome = link.send_model(encode(signed(signer, second, "2")), second)
    assert outcome.status is AckStatus.ROLLED_BACK
    assert outcome.events[0]["reason"] == "RolledBack"
    _, state = link.query()
    assert state["modelVersion"] == "1" and state["activeSlot"] == "a"
    assert state["lastUpdate"]["outcome"] == "rolled-back"
    assert {s["name"]: s.get("version") for s in state["slots"]} == {"a": "1", "b": "2"}


def test_a_silent_board_is_reported_not_waited_for_forever(board):
    from specs.errors import DeviceError

    _, link = board(Faults(silent=True))
    with pytest.raises(DeviceError, match="no hello"):
        link.query(timeout_s=0.5)
