"""A virtual BLE board on Bumble's virtual air, the gateway as its GATT central, a real Mosquitto: the
controller's signed desired state reaches the board over GATT, a link cut mid-transfer resumes, a chunk
tampered on the air is refused, and the board's sensor windows arrive on MQTT."""
from __future__ import annotations

import pytest

from device.ble_radio import VirtualAir
from device.gateway import BoardLink
from device.gateway import Gateway
from device.gateway.ble_link import BleCentral
from device.virtual.ble_board import VirtualBleBoard
from device.virtual.mcu_core import Faults
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import Sample
from specs.v1alpha1.protocol import events_topic
from specs.v1alpha1.protocol import hello_topic
from specs.v1alpha1.protocol import samples_topic
from specs.v1alpha1.protocol import sha256_hex
from specs.v1alpha1.protocol import state_topic
from tests.test_gateway_end_to_end import controller  # noqa: F401  (the fixture: signer, artifacts, MQTT)
from tests.test_gateway_end_to_end import desire
from tests.test_gateway_end_to_end import wait_for
from tests.tiny_tflite import dense_int8


@pytest.fixture
def ble_world(mosquitto, controller, tmp_path):  # noqa: F811
    signer = controller[0]
    air = VirtualAir()
    board = VirtualBleBoard(BUILTIN_PROFILES["nano33ble"], "nano-ble-e2e", tmp_path / "board", signer.public_key,
                            air=air, faults=Faults(drop_link_after_chunks=3)).start()
    central = BleCentral.virtual(air)
    gateway = Gateway("gw-ble", mosquitto.url, BUILTIN_PROFILES, spool=tmp_path / "spool",
                      public_key=signer.public_key, chunk_size=512)
    try:
        [found] = central.scan(5, stop_after=1)
        stream = central.open(found)
        yield board, stream, gateway.attach_link(BoardLink(stream))
    finally:
        gateway.close()
        board.stop()
        central.close()
        air.close()


def test_a_rollout_reaches_a_ble_board_through_the_gateway_resumes_a_cut_link_and_refuses_tampering(
        controller, ble_world):  # noqa: F811
    signer, artifacts, link, reports = controller
    board, stream, device_id = ble_world
    hello = wait_for(reports, hello_topic(device_id), Hello)
    assert device_id == "nano-ble-e2e" and hello.gateway == "gw-ble"
    assert hello.capabilities.transports == ["ble"] and hello.capabilities.profile == "nano33ble"

    # 1. The model goes out over GATT; the board cuts the link after 3 chunks, the gateway reconnects and
    #    the transfer resumes from the board's offset.
    model = dense_int8(units=48)
    desire(signer, artifacts, link, device_id, model, "2", generation=1)
    state = wait_for(reports, state_topic(device_id), ReportedState, lambda s: s.observedGeneration == 1)
    assert state.modelDigest == sha256_hex(model) and state.health == "ok"
    assert state.lastUpdate.outcome == "installed" and state.lastUpdate.bytesReceived == len(model)
    assert stream.reconnects == 1 and board.connections == 2 and board.installs == 1

    # 2. A chunk rewritten on the air (with a valid CRC) is refused by the board's digest check.
    board.faults.tamper_chunks = 1
    desire(signer, artifacts, link, device_id, dense_int8(units=24), "3", generation=2)
    event = wait_for(reports, events_topic(device_id), Event, lambda e: e.reason == "DigestMismatch")
    assert event.type == "Warning" and "signed manifest" in event.message
    state = wait_for(reports, state_topic(device_id), ReportedState, lambda s: s.observedGeneration == 2)
    assert state.modelVersion == "2" and state.lastUpdate.outcome == "rejected"
    assert board.installs == 1

    # 3. Sensor windows the board records travel as SAMPLES frames over GATT and reach MQTT.
    values = [round(0.01 * i, 2) for i in range(600)]  # ~3 KB of JSON: a dozen notifications
    board.send_samples({"sensor": "imu", "values": values, "rateHz": 100.0, "shape": [200, 3],
                        "label": "wave", "session": "s1"})
    sample = wait_for(reports, samples_topic(device_id), Sample)
    assert sample.values == values and sample.shape == [200, 3] and sample.label == "wave"
