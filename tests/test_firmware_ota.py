"""Model OTA verified by the firmware's own C code (firmware_templates/device_core/) on an emulated
Nano 33 (QEMU mps2-an386), over the framed serial protocol on a pseudo-terminal.

The image is built once per session (`ota_image` in conftest.py: TFLM cold build about a minute,
shared with the other firmware tests); each test boots a fresh board with blank flash.
"""
from __future__ import annotations

import base64

import numpy as np
import pytest

from controller.devices.signing import Signer
from device.gateway.serial_link import BoardLink
from device.serial_frames import AckStatus
from device.serial_frames import signed_manifest_payload
from runtimes.tflm import run_tflm
from specs.errors import DeviceError
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SignedManifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import sha256_hex
from tests.device_rig import SINE
from tests.firmware_rig import emulated_nano33


@pytest.fixture
def signer(ota_key) -> Signer:
    return Signer(ota_key)


def manifest_for(data: bytes, version: str = "1", board: str | None = "nano33ble") -> Manifest:
    return Manifest(name="sine", version=version, digest=sha256_hex(data), size=len(data),
                    target=Target(runtime="tflm", precision="float32", board=board))


def send(link, signed: SignedManifest, data: bytes):
    return link.send_model(signed_manifest_payload(signed), data)


def reasons(outcome) -> list[str]:
    return [e["reason"] for e in outcome.events]


def test_signed_model_installs_and_the_board_reports_it_after_a_reboot(ota_image, signer, tmp_path):
    model = SINE.read_bytes()
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (board, link):
        _, before = link.query()
        assert before["modelDigest"] is None
        outcome = send(link, signer.sign(manifest_for(model)), model)
        assert outcome.status is AckStatus.INSTALLED, outcome.events
        assert reasons(outcome) == ["Verified", "Installed"]  # verified, rebooted on trial, confirmed
        link.close()
        board.restart()  # QEMU itself restarts: only the flash file carries the slots over
        again = BoardLink(board.port)
        try:
            hello, state = again.query()
        finally:
            again.close()
    assert hello["keyId"] == signer.key_id and hello["deviceId"] == "nano33-qemu-0"
    assert state["modelDigest"] == sha256_hex(model) and state["activeSlot"] == "a"
    assert state["health"] == "ok" and state["lastUpdate"]["outcome"] == "installed"
    assert 0 < state["arenaBytes"] <= ota_image.arena_bytes


def test_device_runs_the_installed_model_bit_exact_with_host_tflm(ota_image, signer, tmp_path):
    model = SINE.read_bytes()
    inputs = np.array([[0.0], [0.7], [2.5], [4.0]], dtype=np.float32)
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (_, link):
        assert send(link, signer.sign(manifest_for(model)), model).status is AckStatus.INSTALLED
        outputs = [link.infer(x.tobytes())[0] for x in inputs]
        with pytest.raises(DeviceError, match="input size"):
            link.infer(b"\0" * 3)
    host = run_tflm(model, inputs, dequantize=False)
    assert b"".join(outputs) == host.tobytes()


def test_tampered_chunk_is_refused_by_the_device_digest_check(ota_image, signer, tmp_path):
    model = SINE.read_bytes()
    tampered = bytearray(model)
    tampered[len(model) // 2] ^= 0x01  # the frame's CRC is computed over these bytes: only the digest can tell
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (_, link):
        outcome = send(link, signer.sign(manifest_for(model)), bytes(tampered))
        _, state = link.query()
    assert outcome.status is AckStatus.REFUSED and "DigestMismatch" in reasons(outcome)
    assert state["modelDigest"] is None and state["lastUpdate"]["outcome"] == "rejected"


def test_manifest_signed_by_another_key_is_refused(ota_image, signer, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    model = SINE.read_bytes()
    stranger = Signer(Ed25519PrivateKey.generate())
    forged = stranger.sign(manifest_for(model))
    posing = forged.model_copy(update={"keyId": signer.key_id})  # claims the trusted key: Ed25519 must catch it
    altered = signer.sign(manifest_for(model)).model_copy(update={"signature": forged.signature})
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (_, link):
        outcomes = [send(link, s, model) for s in (forged, posing, altered)]
        _, state = link.query()
    for outcome in outcomes:
        assert outcome.status is AckStatus.REFUSED and reasons(outcome) == ["SignatureInvalid"]
        assert outcome.bytes_sent == 0  # refused at the manifest: no chunk crossed the link
    assert "does not trust" in outcomes[0].events[0]["message"]
    assert "does not verify" in outcomes[1].events[0]["message"]
    assert state["modelDigest"] is None and state["slots"] == [{"name": "a"}, {"name": "b"}]


def test_manifest_for_another_board_or_oversized_is_refused(ota_image, signer, tmp_path):
    model = SINE.read_bytes()
    huge = manifest_for(model).model_copy(update={"size": 4 * 1024 * 1024})
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (_, link):
        wrong = send(link, signer.sign(manifest_for(model, board="pico")), model)
        large = send(link, signer.sign(huge), model)
        bad_b64 = signer.sign(manifest_for(model)).model_copy(
            update={"signature": base64.b64encode(b"x" * 63).decode()})
        short = send(link, bad_b64, model)
    assert reasons(wrong) == ["WrongTarget"] and reasons(large) == ["ModelTooLarge"]
    assert reasons(short) == ["SignatureInvalid"]


def test_signed_but_broken_models_fail_their_probe_and_roll_back(ota_image, signer, tmp_path):
    from tests.tiny_tflite import dense_int8

    good = SINE.read_bytes()
    truncated = good[: len(good) // 2]
    softmax = dense_int8()  # SOFTMAX is not in this firmware's op resolver
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (_, link):
        assert send(link, signer.sign(manifest_for(good)), good).status is AckStatus.INSTALLED
        broken = [send(link, signer.sign(manifest_for(data, version=v)), data)
                  for data, v in ((truncated, "2"), (softmax, "3"))]
        _, state = link.query()
        output, _ = link.infer(np.float32(1.0).tobytes())  # the previous model still answers
    for outcome in broken:
        assert outcome.status is AckStatus.ROLLED_BACK and reasons(outcome) == ["Verified", "RolledBack"]
    assert "not a valid TFLite flatbuffer" in broken[0].events[-1]["message"]
    assert "AllocateTensors" in broken[1].events[-1]["message"]
    assert state["modelDigest"] == sha256_hex(good) and state["activeSlot"] == "a"
    assert state["lastUpdate"]["outcome"] == "rolled-back" and state["lastUpdate"]["version"] == "3"
    assert np.frombuffer(output, np.float32)[0] == pytest.approx(np.sin(1.0), abs=0.1)


# The metadata page's head as origami_core.c lays it out on the 32-bit core (meta_t): magic u32,
# active/pending/trial/healthy u8, ...; its CRC-32 covers the bytes before the `crc` field.
META_ACTIVE, META_TRIAL, META_CRC_OFFSET = 4, 6, 1036


def test_a_slot_left_on_trial_at_boot_is_rolled_back(ota_image, signer, tmp_path):
    import zlib

    first = SINE.read_bytes()
    second = first + b"\0" * 16  # another digest, still a valid model
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (board, link):
        for data, version in ((first, "1"), (second, "2")):
            assert send(link, signer.sign(manifest_for(data, version)), data).status is AckStatus.INSTALLED
        link.close()
        board.stop()
        # As if the board lost power while slot b was on trial, with slot a the last confirmed one.
        flash = bytearray(board.storage.read_bytes())
        assert flash[META_ACTIVE] == 2
        flash[META_ACTIVE], flash[META_TRIAL] = 1, 2
        flash[META_CRC_OFFSET:META_CRC_OFFSET + 4] = zlib.crc32(bytes(flash[:META_CRC_OFFSET])).to_bytes(4, "little")
        board.storage.write_bytes(bytes(flash))
        board.start()
        again = BoardLink(board.port)
        try:
            _, state = again.query()
        finally:
            again.close()
    assert state["modelDigest"] == sha256_hex(first) and state["activeSlot"] == "a"
    assert state["lastUpdate"]["outcome"] == "rolled-back" and state["lastUpdate"]["version"] == "2"
    assert "on trial at boot" in state["lastUpdate"]["reason"]
