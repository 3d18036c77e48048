"""A full rollout on Mosquitto with TLS, per-device passwords and the generated ACLs: the controller
side (DeviceHub, enrollment on), two Linux agents (virtual Linux boards) and a serial gateway with a
virtual microcontroller behind a pty all authenticate over TLS, and every device installs a signed
model, as on the open broker."""
from __future__ import annotations

import pytest

from controller.devices.enrollment import Enrollment
from controller.devices.hub import DeviceHub
from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from controller.store.artifacts import ArtifactStore
from device.gateway import Gateway
from device.virtual.linux_board import VirtualLinuxBoard
from device.virtual.mcu_board import VirtualMCU
from specs.errors import DeviceError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import sha256_hex
from tests.device_rig import model_bytes
from tests.security.secured_mosquitto import generated_mosquitto
from tests.security.secured_mosquitto import wait_until
from tests.tiny_tflite import dense_int8
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink

LINUX = ["rpi-1", "rpi-2"]
MCU = "nano-1"


def test_controller_agents_and_gateway_authenticate_over_tls_and_every_device_installs(tmp_path):
    mcu_model = dense_int8()
    with generated_mosquitto(LINUX, gateways={"gw-1": [MCU]}, tls=True) as broker:
        assert broker.url.startswith("mqtts://")
        # Without the CA the server's certificate is not trusted; without TLS nothing answers.
        with pytest.raises(DeviceError, match="cannot connect"):
            MqttLink("no-ca", BrokerConnection.parse(broker.url, username="rpi-1",
                                                      password=broker.files.passwords["rpi-1"])).start(3)
        with pytest.raises(DeviceError, match="cannot connect"):
            MqttLink("plain", broker.connection("rpi-1").url.replace("mqtts://", "mqtt://"),
                     username="rpi-1", password=broker.files.passwords["rpi-1"]).start(3)

        signer = Signer.load_or_create(tmp_path / "controller")
        store = ArtifactStore(tmp_path / "artifacts")
        rejected: list = []
        hub = DeviceHub(broker.connection("controller"), store, enrolled=Enrollment(broker.files.config.parent))
        hub.on_rejected(lambda *args: rejected.append(args))
        hub.start(10)
        boards = [VirtualLinuxBoard(d, broker.connection(d), tmp_path / d, signer.public_key).start(10)
                  for d in LINUX]
        mcu = VirtualMCU(BUILTIN_PROFILES["nano33ble"], MCU, tmp_path / MCU, signer.public_key).start()
        gateway = Gateway("gw-1", broker.connection("gw-1"), BUILTIN_PROFILES, spool=tmp_path / "spool",
                          public_key=signer.public_key)
        try:
            assert gateway.attach(mcu.port, usb="2341:805a") == MCU
            assert wait_until(lambda: {*LINUX, MCU} <= set(hub.hellos()), 30), hub.hellos().keys()

            linux_model = model_bytes(padding=150_000, seed=12)
            wanted = {}
            for device_id, data, target in [(LINUX[0], linux_model, Target(runtime="litert", precision="float32")),
                                            (LINUX[1], linux_model, Target(runtime="litert", precision="float32")),
                                            (MCU, mcu_model, Target(runtime="tflm", board="nano33ble"))]:
                digest = store.put_bytes(data)
                manifest = Manifest(name="m", version="2", digest=digest, size=len(data), target=target)
                board = hub.hellos()[device_id].capabilities.board_class
                hub.set_desired(device_id, desired_state(signer, device_id, board, 1, manifest,
                                                         chunk_size=16 * 1024))
                wanted[device_id] = digest

            def installed() -> bool:
                states = hub.states()
                return all(states.get(d) is not None and states[d].modelDigest == digest
                           and states[d].observedGeneration == 1 for d, digest in wanted.items())

            assert wait_until(installed, 90), hub.states()
            for device_id in wanted:
                state = hub.states()[device_id]
                assert state.health == "ok" and state.lastUpdate.outcome == "installed", (device_id, state)
            assert mcu.active_model()["version"] == "2" and wanted[MCU] == sha256_hex(mcu_model)
            assert rejected == []
        finally:
            gateway.close()
            mcu.stop()
            for board in boards:
                board.stop()
            hub.stop()
