"""`origami gateway run --ble`: a virtual BLE board attached over GATT by the real CLI process, and the
usage errors a user can act on."""
from __future__ import annotations

import signal
import subprocess
import sys

from controller.devices.signing import Signer
from tests.conftest import ROOT
from tests.test_gateway_cli import origami
from wire.manifests import public_pem


def test_a_virtual_ble_board_is_attached_over_gatt_and_the_gateway_stops_cleanly(mosquitto, tmp_path):
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem(Signer.load_or_create(tmp_path / "controller").public_key))
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "gateway", "run", "--id", "gw-cli", "--broker", mosquitto.url,
         "--public-key", str(key), "--spool", str(tmp_path / "spool"), "--virtual-ble", "nano33ble"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "attached nano33ble-ble-0 over BLE" in line and "ATT MTU 247" in line, process.stderr.read()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err


def test_a_virtual_ble_board_of_a_profile_without_ble_is_a_usage_error(tmp_path):
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem(Signer.load_or_create(tmp_path / "controller").public_key))
    result = origami("gateway", "run", "--broker", "mqtt://127.0.0.1:1", "--public-key", str(key),
                     "--virtual-ble", "pico")
    assert result.returncode == 2 and "'ble' transport" in result.stderr and "Traceback" not in result.stderr
