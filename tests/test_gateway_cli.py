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


def test_qemu_board_that_is_not_emulated_names_the_emulated_ones(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from wire.manifests import public_pem

    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    result = origami("gateway", "run", "--broker", "mqtt://127.0.0.1:1", "--public-key", str(key), "--qemu", "esp32s3")
    assert result.returncode == 2 and "nano33ble" in result.stderr and "Traceback" not in result.stderr


def test_gateway_run_attaches_an_emulated_nano33_by_its_hello(mosquitto, ota_image, ota_key, tmp_path):
    import signal

    from wire.manifests import public_pem

    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem(ota_key.public_key()))
    process = subprocess.Popen([sys.executable, "-m", "controller.cli.main", "gateway", "run", "--broker",
                                mosquitto.url, "--id", "gw-cli-qemu", "--spool", str(tmp_path / "spool"),
                                "--public-key", str(key), "--qemu", f"nano33ble:{ota_image.elf}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert line.startswith("attached nano33ble-qemu-0 on /dev/pts/"), (line, process.stderr.read()[-2000:])
    assert (tmp_path / "spool" / "qemu-0" / "origami-flash.bin").is_file()  # the board's flash, in the spool
