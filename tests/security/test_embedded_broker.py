"""The embedded amqtt broker: loopback only, one port for good, open only without a registry (and
saying so), and with one the same passwords, client ids and ACLs as the generated Mosquitto config."""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from amqtt.broker import Broker

from controller.devices.broker_config import write_broker_config
from controller.devices.hub import DeviceHub
from controller.embedded_broker import PORT_FILE
from controller.embedded_broker import EmbeddedBroker
from controller.store.artifacts import ArtifactStore
from specs.errors import DeviceError
from specs.v1alpha1 import protocol as p
from wire.mqtt import MqttLink


def listening_address(port: int) -> str:
    """The local address of the listening socket on `port`, from /proc/net/tcp (IPv4, hex)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on {port}")


def collect(link: MqttLink, topic_filter: str) -> queue.Queue:
    inbox: queue.Queue = queue.Queue()
    link.subscribe(topic_filter, lambda topic, payload: inbox.put((topic, payload)))
    return inbox


def test_the_port_is_chosen_once_kept_in_the_state_dir_and_bound_to_loopback_only(tmp_path):
    with EmbeddedBroker(tmp_path) as first:
        port = first.port
        assert listening_address(port) == "127.0.0.1"
    assert (tmp_path / PORT_FILE).read_text().strip() == str(port)
    with EmbeddedBroker(tmp_path) as again:
        assert again.port == port
        device = MqttLink("returning-device", again.url).start(5)   # the URL a device was given still works
        device.stop()


def test_a_taken_port_is_a_clear_error_not_a_new_port(tmp_path):
    with EmbeddedBroker(tmp_path) as running:
        with pytest.raises(Exception, match="did not start on mqtt://127.0.0.1:.*kept in the state directory"):
            EmbeddedBroker(tmp_path).start(5)
        assert EmbeddedBroker(tmp_path).port == running.port


def test_without_a_registry_it_is_open_and_its_startup_line_says_so(tmp_path):
    broker = EmbeddedBroker(tmp_path)
    assert broker.open and broker.enrollment() is None
    assert "OPEN (development only)" in broker.startup_line() and "enrollment is open" in broker.startup_line()


@pytest.fixture
def secured(tmp_path):
    files = write_broker_config(tmp_path / "broker", ["dev-a", "dev-b"], port=None, run_as=None)
    with EmbeddedBroker(tmp_path) as broker:
        yield broker, files


def test_with_a_registry_it_requires_the_generated_passwords(secured):
    broker, files = secured
    assert not broker.open and "2 enrolled device(s)" in broker.startup_line()
    for username, password in [(None, None), ("dev-a", files.passwords["dev-b"]), ("dev-zz", "guess")]:
        with pytest.raises(DeviceError, match="Not authorized"):
            MqttLink("intruder", broker.url, username=username, password=password).start(5)
    MqttLink("dev-a", broker.connection("dev-a")).start(5).stop()


def test_a_device_is_confined_to_its_own_topics(secured):
    broker, _ = secured
    controller = MqttLink("origami-controller", broker.connection("controller")).start(5)
    a, b = MqttLink("a", broker.connection("dev-a")).start(5), MqttLink("b", broker.connection("dev-b")).start(5)
    try:
        reports = collect(controller, p.device_topic("+", "hello"))
        assert a.subscribe(p.desired_topic("dev-b"), lambda *_: None) == 0x80        # refused outright
        assert a.subscribe(p.device_topic("+", "desired"), lambda *_: None) == 0x80
        b_desired = collect(b, p.desired_topic("dev-b"))
        a.publish_and_wait(p.hello_topic("dev-b"), b"forged")
        a.publish_and_wait(p.desired_topic("dev-b"), b"forged desired")
        a.publish_and_wait(p.hello_topic("dev-a"), b"own")
        assert reports.get(timeout=5) == (p.hello_topic("dev-a"), b"own")
        controller.publish_and_wait(p.desired_topic("dev-b"), b"genuine")
        assert b_desired.get(timeout=5) == (p.desired_topic("dev-b"), b"genuine")
        time.sleep(0.3)
        assert reports.empty() and b_desired.empty()
    finally:
        for link in (a, b, controller):
            link.stop()


def test_neither_a_device_nor_a_stranger_can_take_the_controllers_client_id(secured, tmp_path):
    broker, files = secured
    hub = DeviceHub(broker.connection("controller"), ArtifactStore(tmp_path / "artifacts"),
                    client_id="origami-controller").start(5)
    try:
        with pytest.raises(DeviceError, match="Not authorized"):   # amqtt alone would drop the hub's session here
            MqttLink("origami-controller", broker.url, username="dev-a", password="wrong").start(5)
        impostor = MqttLink("origami-controller", broker.connection("dev-a")).start(5)
        impostor.stop()
        b = MqttLink("b", broker.connection("dev-b")).start(5)
        b.publish_and_wait(p.hello_topic("dev-b"), p.encode(p.Hello(
            deviceId="dev-b", agent="test", agentVersion="0", capabilities=p.Capabilities(family="linux"))))
        b.stop()
        deadline = time.monotonic() + 5
        while "dev-b" not in hub.hellos() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "dev-b" in hub.hellos()
        assert hub.link.connections == 1 and hub.link.connected.is_set()
    finally:
        hub.stop()


def test_an_8_mb_hello_reaches_no_parser_even_on_the_open_broker(tmp_path):
    """amqtt has no packet size limit: the DeviceHub's own bound drops it unread, and says so."""
    rejected: list = []
    with EmbeddedBroker(tmp_path) as broker:
        hub = DeviceHub(broker.connection(), ArtifactStore(tmp_path / "artifacts"))
        hub.on_rejected(lambda *args: rejected.append(args))
        hub.start(5)
        device = MqttLink("big", broker.url).start(5)
        try:
            device.publish_and_wait(p.hello_topic("dev-a"), b'{"deviceId": "dev-a",' + b" " * 8_000_000 + b"}",
                                    timeout=30)
            deadline = time.monotonic() + 10
            while not rejected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert [(d, c) for d, c, _ in rejected] == [("dev-a", "hello")]
            assert rejected[0][2].startswith("TooLarge: 8000022 bytes") and "dev-a" not in hub.hellos()
        finally:
            device.stop()
            hub.stop()


def _retained_leak(broker: EmbeddedBroker) -> list[tuple[str, bytes]]:
    """A retained desired state for dev-b, a subscriber of it; what a newcomer subscribed only to an
    unrelated topic receives (a raw paho client: it hands over every message, routed or not)."""
    owner = MqttLink("owner", broker.url).start(5)
    owner.subscribe(p.desired_topic("dev-b"), lambda *_: None)
    owner.publish_and_wait(p.desired_topic("dev-b"), b"dev-b's desired state", retain=True)
    received: queue.Queue = queue.Queue()
    newcomer = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="newcomer")
    newcomer.on_message = lambda client, userdata, message: received.put((message.topic, message.payload))
    subscribed = threading.Event()
    newcomer.on_connect = lambda client, *_: client.subscribe("unrelated/topic", qos=1)
    newcomer.on_subscribe = lambda *_: subscribed.set()
    newcomer.connect(broker.host, broker.port)
    newcomer.loop_start()
    try:
        assert subscribed.wait(5)
        owner.publish_and_wait("unrelated/topic", b"marker")
        seen = []
        while (item := received.get(timeout=5))[1] != b"marker":
            seen.append(item)
        return seen
    finally:
        newcomer.loop_stop()
        newcomer.disconnect()
        owner.stop()


def test_stock_amqtt_sends_a_newcomer_others_retained_messages_and_ours_does_not(tmp_path, monkeypatch):
    """amqtt 0.12 publishes, on every connect, the retained messages of every filter anyone has
    subscribed to. If this ever stops failing, amqtt fixed it and AccountBroker's override can go."""
    with EmbeddedBroker(tmp_path / "ours") as ours:
        assert _retained_leak(ours) == []

    class StockBroker(Broker):
        secured = False

    monkeypatch.setattr("controller.embedded_broker_auth.AccountBroker", StockBroker)
    with EmbeddedBroker(tmp_path / "stock") as stock:
        assert _retained_leak(stock) == [(p.desired_topic("dev-b"), b"dev-b's desired state")]
