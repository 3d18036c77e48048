"""Virtual microcontroller behind a pty, the gateway in between, a real Mosquitto: identify, send, install, report."""
from __future__ import annotations

import queue

import pytest

from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from controller.devices.transfer import ArtifactSender
from device.gateway import Gateway
from device.gateway import detect_ports
from device.gateway import match_usb
from device.virtual.mcu_board import VirtualMCU
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import ChunkAck
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import TransferRequest
from specs.v1alpha1.protocol import decode
from specs.v1alpha1.protocol import desired_topic
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import events_topic
from specs.v1alpha1.protocol import hello_topic
from specs.v1alpha1.protocol import sha256_hex
from specs.v1alpha1.protocol import state_topic
from tests.tiny_tflite import dense_int8
from tests.tiny_tflite import wide_conv_int8
from wire.mqtt import MqttLink
from wire.topics import parse

TIMEOUT_S = 60


class _Artifacts:
    """The controller's artifact files by digest (what ArtifactSender reads)."""

    def __init__(self, directory):
        self.directory = directory

    def add(self, data: bytes) -> str:
        digest = sha256_hex(data)
        (self.directory / digest).write_bytes(data)
        return digest

    def path(self, digest: str):
        return self.directory / digest


@pytest.fixture
def controller(mosquitto, tmp_path):
    """The controller's side of protocol v1: a signing key, an artifact sender and a watcher of reports."""
    signer = Signer.load_or_create(tmp_path / "controller")
    artifacts = _Artifacts(tmp_path)
    link = MqttLink("controller-e2e", mosquitto.url).start()
    sender = ArtifactSender(artifacts, lambda topic, payload: link.publish(topic, payload))
    reports: queue.Queue = queue.Queue()

    def on_transfer(topic: str, payload: bytes) -> None:
        ref = parse(topic)
        if ref.channel == "transfer/request":
            sender.on_request(ref.device_id, decode(TransferRequest, payload))
        elif ref.channel == "transfer/ack":
            sender.on_ack(ref.device_id, decode(ChunkAck, payload))

    link.subscribe("origami/v1/devices/+/transfer/+", on_transfer)
    link.subscribe("origami/v1/devices/+/+", lambda topic, payload: reports.put((topic, payload)))
    yield signer, artifacts, link, reports
    sender.close()
    link.stop()


def wait_for(reports: queue.Queue, topic: str, model, predicate=lambda m: True):
    while True:
        got_topic, payload = reports.get(timeout=TIMEOUT_S)
        if got_topic == topic:
            message = decode(model, payload)
            if predicate(message):
                return message


def desire(signer, artifacts, link, device_id: str, model: bytes, version: str, generation: int) -> None:
    digest = artifacts.add(model)
    manifest = Manifest(name="tiny", version=version, digest=digest, size=len(model),
                        target=Target(runtime="tflm", board="nano33ble"))
    link.publish_and_wait(desired_topic(device_id), encode(desired_state(
        signer, device_id, "nano33ble", generation, manifest, chunk_size=4096)), retain=True)


def test_board_identified_sent_a_model_installs_and_reports_the_new_version(mosquitto, controller, tmp_path):
    signer, artifacts, link, reports = controller
    profile = BUILTIN_PROFILES["nano33ble"]
    mcu = VirtualMCU(profile, "nano-e2e-1", tmp_path / "board", signer.public_key).start()
    gateway = Gateway("gw-e2e", mosquitto.url, BUILTIN_PROFILES, spool=tmp_path / "spool",
                      public_key=signer.public_key)
    try:
        device_id = gateway.attach(mcu.port, usb="2341:805a")
        hello = wait_for(reports, hello_topic(device_id), Hello)
        assert hello.capabilities.profile == "nano33ble" and hello.capabilities.usb == "2341:805a"
        assert hello.capabilities.ramBytes == profile.spec.ram and hello.gateway == "gw-e2e"
        assert hello.capabilities.runtimes == ["tflm"]

        model = dense_int8()
        desire(signer, artifacts, link, device_id, model, "2", generation=1)
        state = wait_for(reports, state_topic(device_id), ReportedState, lambda s: s.observedGeneration == 1)
        assert state.modelDigest == sha256_hex(model) and state.modelVersion == "2"
        assert state.health == "ok" and state.lastUpdate.outcome == "installed"
        assert mcu.active_model()["version"] == "2"

        too_big = wide_conv_int8()
        desire(signer, artifacts, link, device_id, too_big, "3", generation=2)
        event = wait_for(reports, events_topic(device_id), Event, lambda e: e.reason == "ModelTooLarge")
        assert "tensor arena" in event.message and event.type == "Warning"
        state = wait_for(reports, state_topic(device_id), ReportedState, lambda s: s.observedGeneration == 2)
        assert state.modelVersion == "2"  # still the model that fits
        assert state.lastUpdate.outcome == "rejected" and "RAM" in state.lastUpdate.reason
    finally:
        gateway.close()
        mcu.stop()


def test_a_failed_update_is_tried_again_without_a_new_desired_state(mosquitto, controller, tmp_path):
    """The artifact is not there yet when the desired state arrives (the controller refuses the transfer):
    the gateway says so, tries the same desired state again after a back-off, and installs once it can."""
    signer, artifacts, link, reports = controller
    mcu = VirtualMCU(BUILTIN_PROFILES["nano33ble"], "nano-e2e-retry", tmp_path / "board", signer.public_key).start()
    gateway = Gateway("gw-e2e-retry", mosquitto.url, BUILTIN_PROFILES, spool=tmp_path / "spool",
                      public_key=signer.public_key, retry_seconds=1.0)
    try:
        device_id = gateway.attach(mcu.port)
        model = dense_int8()
        digest = sha256_hex(model)
        manifest = Manifest(name="tiny", version="2", digest=digest, size=len(model),
                            target=Target(runtime="tflm", board="nano33ble"))
        link.publish_and_wait(desired_topic(device_id), encode(desired_state(
            signer, device_id, "nano33ble", 1, manifest, chunk_size=4096)), retain=True)
        failed = wait_for(reports, events_topic(device_id), Event, lambda e: e.reason == "UpdateFailed")
        assert "attempt 1 of" in failed.message and "again in 1 s" in failed.message and failed.digest == digest
        artifacts.add(model)       # now the controller can serve it; nothing new is published
        state = wait_for(reports, state_topic(device_id), ReportedState, lambda s: s.observedGeneration == 1)
        assert state.modelDigest == digest and state.lastUpdate.outcome == "installed"
        assert mcu.active_model()["version"] == "2"
    finally:
        gateway.close()
        mcu.stop()


def test_usb_ids_match_the_catalogue():
    assert match_usb(0x2341, 0x805A, BUILTIN_PROFILES) == "nano33ble"
    assert match_usb(0x2E8A, 0x0003, BUILTIN_PROFILES) == "pico"
    assert match_usb(0x1234, 0x5678, BUILTIN_PROFILES) is None
    assert all(p.profile is None or p.profile in BUILTIN_PROFILES for p in detect_ports(BUILTIN_PROFILES))
