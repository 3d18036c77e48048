"""`origami gateway`: usage errors a user can act on, the port listing and the flasher command line."""
from __future__ import annotations

import subprocess
import sys

import pytest

from device.gateway import flash_command
from device.gateway import flash_firmware
from specs.errors import DeviceError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.conftest import ROOT


def origami(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controller.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_virtual_board_without_a_public_key_is_a_usage_error():
    result = origami("gateway", "run", "--broker", "mqtt://127.0.0.1:1", "--virtual", "pico")
    assert result.returncode == 2 and "--public-key" in result.stderr and "Traceback" not in result.stderr


def test_flash_with_an_unknown_profile_names_the_known_ones():
    result = origami("gateway", "flash", "--port", "/dev/null", "--profile", "nope", "fw.bin")
    assert result.returncode == 2 and "nano33ble" in result.stderr


def test_flasher_command_fills_port_and_firmware_from_the_profile():
    command = flash_command(BUILTIN_PROFILES["nano33ble"], "/dev/ttyACM0", "/tmp/my fw/app.bin")
    assert command[:2] == ["arduino-cli", "upload"] and "/dev/ttyACM0" in command and "/tmp/my fw/app.bin" in command
    with pytest.raises(DeviceError, match="no flasher"):
        flash_command(BUILTIN_PROFILES["rpi4"], "/dev/ttyACM0", "x")


def test_a_missing_flasher_tool_is_reported_not_crashed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # picotool is not installed here
    with pytest.raises(DeviceError, match="picotool"):
        flash_firmware(BUILTIN_PROFILES["pico"], "/dev/ttyACM0", tmp_path / "fw.uf2")
