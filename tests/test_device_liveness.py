"""Online means presence plus a recent message (docs/protocol.md, "Liveness"). The device here is an
outsider: plain paho publishing JSON written from the protocol document, not our agent. The
controller side is the real DeviceHub on a real Mosquitto; only the clock is the test's.
"""
from __future__ import annotations

import time
import uuid

import pytest

from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.reconciler.reports import ReportIngest
from controller.reconciler.wiring import HubLink
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from device.agent import AgentConfig
from device.agent import DeviceAgent
from device.virtual.linux_board import profile_capabilities
from tests.outsider import Outsider
from wire.mqtt import MqttLink

TIMEOUT = 180.0


@pytest.fixture
def controller(mosquitto, tmp_path):
    clock = [time.time()]
    store = StateStore(tmp_path / "state" / "origami-state.db")
    hub = DeviceHub(mosquitto.url, ArtifactStore(tmp_path / "artifacts"),
                    client_id=f"liveness-{uuid.uuid4().hex[:6]}").start()
    ingest = ReportIngest(store, HubLink(hub), clock=lambda: clock[0], online_timeout=TIMEOUT)
    yield store, ingest, clock
    hub.stop()
    store.close()


def _ingest_until(ingest: ReportIngest, store: StateStore, device_id: str, online: bool) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ingest.ingest()
        device = store.device(device_id)
        if device is not None and device.online == online:
            return
        time.sleep(0.05)
    raise AssertionError(f"{device_id} never became online={online}")


def test_a_device_that_sent_only_a_hello_goes_offline_after_the_timeout(mosquitto, controller):
    store, ingest, clock = controller
    device = Outsider(mosquitto.url, f"hello-only-{uuid.uuid4().hex[:6]}")
    try:
        device.hello()
        _ingest_until(ingest, store, device.device_id, online=True)
        clock[0] += TIMEOUT - 1
        ingest.ingest()
        assert store.device(device.device_id).online            # quiet, but not for long enough
        clock[0] += 2
        ingest.ingest()
        assert not store.device(device.device_id).online
        silent = [e for e in store.events(kind="Device", name=device.device_id) if e.reason == "Silent"]
        assert len(silent) == 1 and silent[0].type == "Warning"
        ingest.ingest()                                         # said once, not on every pass
        assert len([e for e in store.events(kind="Device", name=device.device_id) if e.reason == "Silent"]) == 1
        device.publish("presence", {"deviceId": device.device_id, "online": True})
        _ingest_until(ingest, store, device.device_id, online=True)
    finally:
        device.close()


def test_the_agent_repeats_its_presence_and_says_when_it_stops(mosquitto, controller, tmp_path):
    store, ingest, clock = controller
    signer = Signer.load_or_create(tmp_path / "controller")
    device_id = f"beating-{uuid.uuid4().hex[:6]}"
    agent = DeviceAgent(AgentConfig(
        device_id=device_id, url=mosquitto.url, state_dir=tmp_path / "agent",
        public_key=signer.public_key,
        capabilities=lambda: profile_capabilities("rpi4", tmp_path / "agent"), heartbeat_seconds=0.3))
    agent.start()
    try:
        _ingest_until(ingest, store, device_id, online=True)
        seen = store.device(device_id).last_seen
        clock[0] += TIMEOUT / 2
        deadline = time.monotonic() + 10                         # a heartbeat lands at the later clock
        while store.device(device_id).last_seen <= seen and time.monotonic() < deadline:
            ingest.ingest()
            time.sleep(0.05)
        clock[0] += TIMEOUT / 2 + 1
        ingest.ingest()
        assert store.device(device_id).online                    # heard from within the timeout
    finally:
        agent.stop()
    _ingest_until(ingest, store, device_id, online=False)        # its own offline presence, no timeout needed
    assert not [e for e in store.events(kind="Device", name=device_id) if e.reason == "Silent"]
    link = MqttLink(f"cleanup-{device_id}", mosquitto.url).start()
    for channel in ("hello", "presence", "state"):
        link.publish_and_wait(f"origami/v1/devices/{device_id}/{channel}", b"", retain=True)
    link.stop()
