"""Whoever holds one device's credentials speaks only for that device (issue 12), against Debian's
Mosquitto started as root with exactly the config, passwords and ACLs `origami broker config`
writes (`allow_anonymous false`, `use_username_as_clientid true`, `max_packet_size`)."""
from __future__ import annotations

import queue
import time

import numpy as np
import pytest

from controller.collect.index import SampleIndex
from controller.collect.ingest import Collector
from controller.devices.broker_config import write_broker_config
from controller.devices.enrollment import Enrollment
from controller.devices.hub import DeviceHub
from controller.store.artifacts import ArtifactStore
from specs.errors import DeviceError
from specs.v1alpha1 import protocol as p
from specs.v1alpha1.collection import SampleBatch
from specs.v1alpha1.split import SplitReply
from specs.v1alpha1.split import SplitRequest
from specs.v1alpha1.split import encode_request
from specs.v1alpha1.split import split_reply_topic
from specs.v1alpha1.split import split_request_topic
from tests.security.secured_mosquitto import generated_mosquitto
from tests.security.secured_mosquitto import wait_until
from wire.mqtt import MqttLink

DEVICES = ["dev-a", "dev-b", "dev-c"]


@pytest.fixture(scope="module")
def broker():
    with generated_mosquitto(DEVICES, gateways={"gw-1": ["mcu-1"]}) as secured:
        yield secured


def link(broker, account: str | None, client_id: str | None = None, password: str | None = None) -> MqttLink:
    return MqttLink(client_id or f"test-{account}", broker.connection(account, password)).start(5)


def hello(device_id: str) -> bytes:
    return p.encode(p.Hello(deviceId=device_id, agent="test", agentVersion="0",
                            capabilities=p.Capabilities(family="linux")))


def inbox_of(client: MqttLink, *filters: str) -> queue.Queue:
    inbox: queue.Queue = queue.Queue()
    for topic_filter in filters:
        client.subscribe(topic_filter, lambda topic, payload: inbox.put((topic, payload)))
    return inbox


def drain_until(inbox: queue.Queue, marker: bytes, timeout: float = 5.0) -> list[tuple[str, bytes]]:
    """Everything delivered up to and including `marker` (messages of one publisher arrive in order)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        topic, payload = inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        seen.append((topic, payload))
        if payload == marker:
            return seen


@pytest.fixture
def hub(broker, tmp_path):
    rejected: list[tuple[str, str, str]] = []
    hub = DeviceHub(broker.connection("controller"), ArtifactStore(tmp_path / "artifacts"),
                    enrolled=Enrollment(broker.files.config.parent))
    hub.on_rejected(lambda *args: rejected.append(args))
    hub.start(5)
    hub.rejected = rejected
    yield hub
    hub.stop()


def test_a_device_publishes_only_on_its_own_topics_and_a_gateway_only_for_its_boards(broker):
    controller = link(broker, "controller")
    a, gateway = link(broker, "dev-a"), link(broker, "gw-1")
    try:
        inbox = inbox_of(controller, *(p.device_topic("+", channel) for channel in p.DEVICE_PUBLISHES))
        a.publish_and_wait(p.state_topic("dev-a"), b"own")
        for topic in [p.state_topic("dev-b"), p.hello_topic("dev-b"), p.hello_topic("mcu-1"),
                      p.transfer_request_topic("dev-b"), p.events_topic("gw-1")]:
            a.publish_and_wait(topic, b"forged by dev-a")
        gateway.publish_and_wait(p.hello_topic("mcu-1"), b"for its board")
        gateway.publish_and_wait(p.hello_topic("dev-b"), b"forged by gw-1")
        a.publish_and_wait(p.events_topic("dev-a"), b"marker")
        assert {(t, m) for t, m in drain_until(inbox, b"marker")} == {
            (p.state_topic("dev-a"), b"own"), (p.hello_topic("mcu-1"), b"for its board"),
            (p.events_topic("dev-a"), b"marker")}
    finally:
        for client in (a, gateway, controller):
            client.stop()


def test_a_device_cannot_read_another_devices_desired_state_nor_write_any(broker):
    controller = link(broker, "controller")
    a, b = link(broker, "dev-a"), link(broker, "dev-b")
    try:
        stolen = inbox_of(a, p.desired_topic("dev-b"), p.transfer_chunk_topic("dev-b"),
                          p.device_topic("mcu-1", "transfer/offer"))
        wildcard = inbox_of(a, p.device_topic("+", "desired"))   # delivers its own desired state only
        own = inbox_of(a, p.desired_topic("dev-a"))
        b_inbox = inbox_of(b, p.desired_topic("dev-b"))
        controller.publish_and_wait(p.desired_topic("dev-b"), b"for b", retain=True)
        controller.publish_and_wait(p.transfer_chunk_topic("dev-b"), b"chunk for b")
        a.publish_and_wait(p.desired_topic("dev-b"), b"forged desired", retain=True)   # refused: never delivered
        a.publish_and_wait(p.desired_topic("dev-a"), b"self-made desired", retain=True)  # devices write no desired
        controller.publish_and_wait(p.desired_topic("dev-a"), b"for a", retain=True)
        assert own.get(timeout=5) == (p.desired_topic("dev-a"), b"for a")
        assert b_inbox.get(timeout=5) == (p.desired_topic("dev-b"), b"for b")
        assert wildcard.get(timeout=5) == (p.desired_topic("dev-a"), b"for a")
        time.sleep(0.3)
        assert stolen.empty() and own.empty() and b_inbox.empty() and wildcard.empty()
    finally:
        controller.publish_and_wait(p.desired_topic("dev-a"), b"", retain=True)
        controller.publish_and_wait(p.desired_topic("dev-b"), b"", retain=True)
        for client in (a, b, controller):
            client.stop()


def test_anonymous_clients_wrong_passwords_and_unknown_users_are_refused(broker):
    for account, password in [(None, None), ("dev-a", broker.files.passwords["dev-b"]), ("dev-zz", "guess"),
                              ("controller", broker.files.passwords["dev-a"])]:
        with pytest.raises(DeviceError, match="cannot connect.*(Not authorized|Bad user name or password)"):
            link(broker, account, client_id="intruder", password=password)


def test_a_device_using_the_controllers_or_collectors_client_id_kicks_nobody(broker, hub, tmp_path):
    index = SampleIndex(tmp_path / "state.db")
    collector = Collector(broker.connection("collector"), index, ArtifactStore(tmp_path / "samples"),
                          client_id="origami-collector").start(5)
    b = link(broker, "dev-b")
    try:
        for client_id in ("origami-controller", "origami-collector"):
            impostor = link(broker, "dev-a", client_id=client_id)   # accepted, but as dev-a
            impostor.publish_and_wait(p.hello_topic("dev-a"), hello("dev-a"))
            impostor.stop()
        for seq in range(3):
            batch = SampleBatch(deviceId="dev-b", sensor="accel", rateHz=50, shape=[2], values=[seq, seq + 0.5],
                                seq=seq, boot="b1")
            b.publish_and_wait(p.samples_topic("dev-b"), p.encode(batch))
        b.publish_and_wait(p.hello_topic("dev-b"), hello("dev-b"))
        assert collector.wait_for(windows=3, timeout=10), collector.stats
        assert wait_until(lambda: {"dev-a", "dev-b"} <= set(hub.hellos()))
        assert hub.link.connections == 1 and hub.link.connected.is_set()
        assert collector.connected.is_set()
    finally:
        b.stop()
        collector.stop()
        index.close()


def test_one_credential_cannot_enroll_other_device_ids(broker, hub):
    a = link(broker, "dev-a")
    try:
        for i in range(200):
            a.publish(p.hello_topic(f"fake-{i:04d}"), hello(f"fake-{i:04d}"), qos=1)
        a.publish_and_wait(p.hello_topic("dev-a"), hello("dev-a"))
        assert wait_until(lambda: "dev-a" in hub.hellos())
        time.sleep(0.2)
        assert not [d for d in hub.hellos() if d.startswith("fake-")]
        assert hub.rejected == []   # the broker refused them: the controller never saw one
    finally:
        a.stop()


def test_a_revoked_device_is_ignored_before_the_broker_reloads_and_reported_once(tmp_path):
    with generated_mosquitto(["dev-a", "dev-b"]) as secured:
        rejected: list[tuple[str, str, str]] = []
        hub = DeviceHub(secured.connection("controller"), ArtifactStore(tmp_path / "artifacts"),
                        enrolled=Enrollment(secured.files.config.parent))
        hub.on_rejected(lambda *args: rejected.append(args))
        hub.start(5)
        b = link(secured, "dev-b")   # still connected, and Mosquitto still knows its password (no reload)
        try:
            write_broker_config(secured.files.config.parent, [], revoke=["dev-b"], port=secured.port,
                                host="127.0.0.1")
            time.sleep(1.1)           # the enrollment registry is re-read at most once a second
            for _ in range(3):
                b.publish_and_wait(p.hello_topic("dev-b"), hello("dev-b"))
                b.publish_and_wait(p.state_topic("dev-b"), b"{}")
            a = link(secured, "dev-a")
            a.publish_and_wait(p.hello_topic("dev-a"), hello("dev-a"))
            assert wait_until(lambda: "dev-a" in hub.hellos())
            assert "dev-b" not in hub.hellos() and "dev-b" not in hub.states()
            assert [(d, c) for d, c, _ in rejected] == [("dev-b", "hello")]    # rate-limited: one per id
            assert rejected[0][2].startswith("NotEnrolled")
            a.stop()
        finally:
            b.stop()
            hub.stop()


def test_an_8_mb_hello_never_reaches_the_controller_and_a_100_kb_one_is_dropped_unread(broker, hub):
    a, b = link(broker, "dev-a"), link(broker, "dev-b")
    try:
        a.publish(p.hello_topic("dev-a"), b"{" + b" " * (8 * 1024 * 1024) + b"}", qos=1)
        assert wait_until(lambda: not a.connected.is_set(), 10)   # Mosquitto cut it: max_packet_size
        b.publish_and_wait(p.hello_topic("dev-b"), b'{"deviceId": "dev-b", ' + b" " * 100_000 + b"}")
        b.publish_and_wait(p.state_topic("dev-b"), b"not json at all " * 8000)
        b.publish_and_wait(p.events_topic("dev-b"), b"marker")
        assert wait_until(lambda: len(hub.rejected) >= 1)
        time.sleep(0.3)
        assert [(d, c) for d, c, _ in hub.rejected] == [("dev-b", "hello")]
        assert hub.rejected[0][2].startswith("TooLarge")
        assert "dev-a" not in hub.hellos() and "dev-b" not in hub.hellos() and "dev-b" not in hub.states()
    finally:
        a.stop()
        b.stop()


def test_the_split_worker_answers_only_the_device_whose_topic_a_request_came_on(broker):
    from controller.split.worker import TailWorker
    from tests.device_rig import SINE

    tail = SINE.read_bytes()
    worker = TailWorker(broker.connection("worker"), [tail], client_id="origami-worker").start(5)
    a, b = link(broker, "dev-a"), link(broker, "dev-b")
    try:
        to_a, to_b = inbox_of(a, split_reply_topic("dev-a")), inbox_of(b, split_reply_topic("dev-b"))
        tensor = np.float32(0.5).tobytes()
        tail_name = next(iter(worker.runners))

        def request(name: str, device: str) -> bytes:
            return encode_request(SplitRequest(id=name, device=device, tail=tail_name, shape=[1], dtype="float32"),
                                  tensor)

        a.publish_and_wait(split_request_topic(tail_name, "dev-a"), request("names-b", "dev-b"))
        a.publish_and_wait(split_request_topic(tail_name, "dev-b"), request("on-bs-topic", "dev-b"))  # ACL: refused
        a.publish_and_wait(split_request_topic(tail_name, "dev-a"), request("honest", "dev-a"))
        topic, payload = to_a.get(timeout=10)
        reply = SplitReply.model_validate_json(payload)
        assert (topic, reply.id, reply.ok) == (split_reply_topic("dev-a"), "honest", True)
        time.sleep(0.3)
        assert to_a.empty() and to_b.empty()
        assert (worker.stats.served, worker.stats.rejected) == (1, 1)
    finally:
        a.stop()
        b.stop()
        worker.stop()


def test_services_get_only_what_they_need(broker):
    """The collector reads samples, a worker reads split requests; neither writes a desired state."""
    a = link(broker, "dev-a")
    collector, worker = link(broker, "collector"), link(broker, "worker")
    try:
        desired = inbox_of(a, p.desired_topic("dev-a"))
        hellos = inbox_of(collector, p.device_topic("+", "hello"))
        worker_sees = inbox_of(worker, p.device_topic("+", "samples"), p.device_topic("+", "hello"))
        samples = inbox_of(collector, p.device_topic("+", "samples"))
        collector.publish_and_wait(p.desired_topic("dev-a"), b"from the collector")
        worker.publish_and_wait(p.desired_topic("dev-a"), b"from a worker")
        a.publish_and_wait(p.hello_topic("dev-a"), hello("dev-a"))
        a.publish_and_wait(p.samples_topic("dev-a"), b"marker")
        assert samples.get(timeout=5) == (p.samples_topic("dev-a"), b"marker")
        time.sleep(0.3)
        assert desired.empty() and hellos.empty() and worker_sees.empty()
    finally:
        for client in (a, collector, worker):
            client.stop()


def test_concurrent_logins_of_one_account_replace_each_other_never_another_account(broker):
    """use_username_as_clientid: the second login of dev-a ends the first, and only that one."""
    b = link(broker, "dev-b")
    first = link(broker, "dev-a", client_id="dev-b")    # the broker names it dev-a: dev-b stays
    second = link(broker, "dev-a", client_id="anything")
    try:
        assert wait_until(lambda: not first.connected.is_set() or first.connections > 1, 5)
        assert b.connected.is_set() and b.connections == 1
    finally:
        for client in (first, second, b):
            client.stop()
