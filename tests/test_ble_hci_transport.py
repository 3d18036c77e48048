"""The real-adapter code path without a radio: the gateway's central and a BLE board each open a Bumble HCI
transport (`--ble-transport tcp-client:...`, as for `usb:0`) to virtual controllers run by Bumble's
`controllers` app in another process. HCI crosses a socket, so this is also the cross-process setup
docs/ble.md describes."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from controller.devices.signing import Signer
from device.gateway import BoardLink
from device.gateway.ble_link import BleCentral
from device.serial_frames import AckStatus
from device.virtual.ble_board import VirtualBleBoard
from specs.errors import DeviceError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import sha256_hex
from tests.tiny_tflite import dense_int8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _retry(open_it, seconds: float = 15.0):
    """The controllers process listens a moment after it starts: retry while the port refuses."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return open_it()
        except DeviceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def controllers():
    ports = [_free_port(), _free_port()]
    process = subprocess.Popen([sys.executable, "-m", "bumble.apps.controllers",
                                *(f"tcp-server:127.0.0.1:{p}" for p in ports)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield [f"tcp-client:127.0.0.1:{p}" for p in ports]
    process.terminate()
    process.wait(timeout=10)


def test_a_board_and_the_gateway_on_hci_transports_install_a_model(controllers, tmp_path):
    signer = Signer.load_or_create(tmp_path / "controller")
    board = _retry(lambda: VirtualBleBoard(BUILTIN_PROFILES["nano33ble"], "nano-ble-hci", tmp_path / "board",
                                           signer.public_key, hci_transport=controllers[1]).start())
    central = _retry(lambda: BleCentral.on_adapter(controllers[0]))
    try:
        [found] = central.scan(10, stop_after=1)
        link = BoardLink(central.open(found))
        hello, _ = link.query()
        assert hello["deviceId"] == "nano-ble-hci" and link.transport == "ble"
        model = dense_int8()
        manifest = signer.sign(Manifest(name="m", version="1", digest=sha256_hex(model), size=len(model),
                                        target=Target(runtime="tflm", board="nano33ble")))
        assert link.send_model(encode(manifest), model, chunk_size=1024).status is AckStatus.INSTALLED
        assert board.active_model()["digest"] == sha256_hex(model)
        link.close()
    finally:
        board.stop()
        central.close()


def test_an_adapter_that_cannot_be_opened_is_a_clear_error():
    with pytest.raises(DeviceError, match="cannot open the Bluetooth controller 'tcp-client:127.0.0.1:1'"):
        BleCentral.on_adapter("tcp-client:127.0.0.1:1")
