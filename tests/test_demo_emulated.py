"""`make demo`'s emulated Nano 33 (controller/demo_emulated.py): its firmware builds, it boots on QEMU
and joins a gateway on a real Mosquitto as a USB board would, and a machine without the tools gets
one line saying what is missing instead of a failed demo."""
from __future__ import annotations

from pathlib import Path

from controller.demo_emulated import DEVICE_ID
from controller.demo_emulated import EmulatedNano
from controller.demo_emulated import firmware_cache as demo_firmware_cache
from controller.devices.signing import Signer
from controller.firmware.qemu import emulator_missing
from controller.loading import load_repository
from tests.firmware_rig import skip_without_firmware_tools

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits-mixed"


def test_the_emulated_nano_boots_and_joins_a_gateway(mosquitto, firmware_cache, tmp_path, monkeypatch):
    skip_without_firmware_tools()
    monkeypatch.setenv("ORIGAMI_FIRMWARE_CACHE", str(firmware_cache))
    signer = Signer.load_or_create(tmp_path / "state")
    # FULLY_CONNECTED alone: the session's other device-core images already built that library.
    nano = EmulatedNano(tmp_path, signer.public_key, operators=("FULLY_CONNECTED",)).start()
    try:
        assert nano.attach(mosquitto.url, load_repository(EXAMPLE).profiles, timeout_s=900)
        assert DEVICE_ID in nano.gateway.boards
        state = nano.on_board_state()
        assert state["modelDigest"] is None and "no model" in state["healthReason"]  # its own C code says
        assert nano.image.key_id == signer.key_id  # the image trusts this controller's key
    finally:
        nano.stop()


def test_without_the_toolchain_the_demo_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    why = emulator_missing()
    assert why is not None and "arm-none-eabi-gcc" in why and "system-packages.sh" in why


def test_the_firmware_cache_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ORIGAMI_FIRMWARE_CACHE", str(tmp_path / "fw"))
    assert demo_firmware_cache() == tmp_path / "fw"
    monkeypatch.delenv("ORIGAMI_FIRMWARE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo_firmware_cache() == tmp_path / "xdg" / "origami" / "firmware"
