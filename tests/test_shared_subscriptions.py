"""Controller replicas in one MQTT 5 share group on a real Mosquitto (docs/scale.md, "MQTT at scale"):
each device report reaches exactly one replica, every report lands in the shared state, and the
retained hellos, states and presence (which a shared subscription never delivers) are read by every
replica at start. A device account's shared subscription gets nothing of the other devices' reports.
"""
from __future__ import annotations

import argparse
import queue
import threading
import time
from collections import Counter

import pytest

from controller.cli.reconcile import share_group
from controller.devices import broker_config
from controller.devices.accounts import Accounts
from controller.devices.broker_acl import AccessList
from controller.devices.broker_acl import fleet_rules
from controller.devices.hub import DeviceHub
from controller.reconciler.reports import ReportIngest
from controller.reconciler.wiring import HubLink
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from specs.errors import UsageError
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import presence_topic
from specs.v1alpha1.protocol import state_topic
from tests.conftest import start_mosquitto
from tests.conftest import stop_mosquitto
from wire.mqtt import DEFAULT_SHARE_GROUP
from wire.mqtt import MqttLink
from wire.mqtt import shared_filter

REPLICAS = 3
RETAINED = 30   # devices whose presence is retained before any replica starts
LIVE = 90       # reports published while the replicas run


class Replica:
    """One replica's device side: a hub in the share group, its reports ingested into the shared state."""

    def __init__(self, name: str, url: str, tmp_path, group: str) -> None:
        self.hub = DeviceHub(url, ArtifactStore(tmp_path / "artifacts"), client_id=f"origami-controller-{name}",
                             share_group=group)
        self.seen: Counter[str] = Counter()   # device id -> live reports this replica got
        self._lock = threading.Lock()
        self.hub.on_report(self._count)
        self.store = StateStore(tmp_path / "state.db")
        self.ingest = ReportIngest(self.store, HubLink(self.hub))

    def _count(self, report) -> None:
        if report.device_id.startswith("live-"):
            with self._lock:
                self.seen[report.device_id] += 1

    def stop(self) -> None:
        self.hub.stop()
        self.store.close()


def presence(device_id: str) -> bytes:
    return encode(Presence(deviceId=device_id, online=True))


def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_replicas_in_one_share_group_each_get_a_share_and_the_state_records_every_report(fresh_mosquitto, tmp_path):
    devices = MqttLink("shared-devices", fresh_mosquitto.url).start(5)
    replicas: list[Replica] = []
    try:
        for i in range(RETAINED):
            devices.publish_and_wait(presence_topic(f"kept-{i:03d}"), presence(f"kept-{i:03d}"), retain=True)
        replicas = [Replica(f"r{n}", fresh_mosquitto.url, tmp_path, "origami") for n in range(REPLICAS)]
        for replica in replicas:
            replica.hub.start(10)   # reads the retained presence once through a normal subscription
        for replica in replicas:    # retained state: every replica has all of it
            assert sorted(replica.hub.online()) == [f"kept-{i:03d}" for i in range(RETAINED)]

        for i in range(LIVE):
            devices.publish_and_wait(presence_topic(f"live-{i:03d}"), presence(f"live-{i:03d}"))
        total = lambda: sum(sum(r.seen.values()) for r in replicas)  # noqa: E731
        assert wait_until(lambda: total() >= LIVE), [dict(r.seen) for r in replicas]
        time.sleep(0.5)   # a second delivery of any report would show up now
        delivered = Counter()
        for replica in replicas:
            delivered.update(replica.seen)
        assert delivered == Counter({f"live-{i:03d}": 1 for i in range(LIVE)})   # each to exactly one replica
        shares = [sum(r.seen.values()) for r in replicas]
        assert all(share > 0 for share in shares), shares   # the load is split

        for replica in replicas:   # each records what it got; together they record everything
            replica.ingest.ingest()
        recorded = {d.device_id for d in replicas[0].store.devices()}
        assert recorded == {f"kept-{i:03d}" for i in range(RETAINED)} | {f"live-{i:03d}" for i in range(LIVE)}
    finally:
        for replica in replicas:
            replica.stop()
        devices.stop()


def test_a_replica_taking_over_reads_the_retained_state_again(fresh_mosquitto, tmp_path):
    """Reports that went to another member of the group (one that then died, taking the ones in
    flight with it) come back to the taker through its re-read of the retained state."""
    replica = Replica("taker", fresh_mosquitto.url, tmp_path, "origami")
    other = MqttLink("origami-controller-dead", fresh_mosquitto.url, share_group="origami").start(5)
    devices = MqttLink("shared-retained", fresh_mosquitto.url).start(5)
    try:
        replica.hub.start(10)
        to_other: queue.Queue = queue.Queue()
        other.subscribe("origami/v1/devices/+/presence", lambda t, p: to_other.put(t), shared=True)
        moved = [f"moved-{i}" for i in range(10)]
        for device_id in moved:
            devices.publish_and_wait(presence_topic(device_id), presence(device_id), retain=True)
        assert wait_until(lambda: to_other.qsize() + len(replica.hub.online()) >= len(moved))
        assert 0 < len(replica.hub.online()) < len(moved)   # the other member got its share
        other.drop()
        assert replica.hub.reread_retained() >= len(moved)
        assert replica.hub.online() == dict.fromkeys(moved, True)
    finally:
        replica.stop()
        other.stop()
        devices.stop()


def test_replicas_share_by_default_on_an_external_broker_and_a_lone_controller_does_not():
    def args(group=None):
        return argparse.Namespace(share_group=group)
    assert share_group(args(), "r1", external_broker=True) == DEFAULT_SHARE_GROUP
    assert share_group(args(), None, external_broker=True) is None
    assert share_group(args(), "r1", external_broker=False) is None   # the embedded broker has no $share
    assert share_group(args("off"), "r1", external_broker=True) is None
    assert share_group(args("site-a"), None, external_broker=True) == "site-a"
    with pytest.raises(UsageError):
        share_group(args("site-a"), "r1", external_broker=False)
    with pytest.raises(UsageError):
        MqttLink("x", "mqtt://127.0.0.1:1", share_group="a/b")


@pytest.fixture
def secured(tmp_path):
    files = broker_config.write_broker_config(tmp_path / "config", ["dev-a", "dev-b"], port=None)
    broker = start_mosquitto(tmp_path / "broker", "user root\n" + files.security_config(), allow_anonymous=False)
    yield broker, files
    stop_mosquitto(broker)


def test_a_device_s_shared_subscription_gets_nothing_and_the_controllers_group_gets_everything(secured):
    broker, files = secured
    group = "origami-7f3a9c2e"   # on Mosquitto's acl_file the group name is the controllers' secret
    controller = MqttLink("shared-controller", broker.url, username="controller",
                          password=files.passwords["controller"], share_group=group).start(5)
    thief = MqttLink("dev-a", broker.url, username="dev-a", password=files.passwords["dev-a"],
                     share_group="origami").start(5)
    reporter = MqttLink("dev-b", broker.url, username="dev-b", password=files.passwords["dev-b"]).start(5)
    try:
        to_controller: queue.Queue = queue.Queue()
        to_thief: queue.Queue = queue.Queue()
        controller.subscribe("origami/v1/devices/+/state", lambda t, p: to_controller.put(p), shared=True)
        thief.subscribe("origami/v1/devices/+/state", lambda t, p: to_thief.put(p), shared=True)
        for i in range(20):
            reporter.publish_and_wait(state_topic("dev-b"), f"s{i}".encode())
        assert [to_controller.get(timeout=10) for _ in range(20)] == [f"s{i}".encode() for i in range(20)]
        time.sleep(0.3)   # anything for the device would have been queued before the last report
        assert to_thief.empty()
    finally:
        for link in (reporter, thief, controller):
            link.stop()


def test_the_acl_lets_only_controller_accounts_join_a_share_group():
    acl = AccessList(fleet_rules(Accounts()))
    reports = "origami/v1/devices/+/state"
    assert acl.may_subscribe("controller", "c", shared_filter("origami", reports))
    assert acl.may_subscribe("collector", "k", shared_filter("any-group", "origami/v1/devices/+/samples"))
    assert not acl.may_subscribe("dev-a", "dev-a", shared_filter("origami", reports))
    assert not acl.may_subscribe("dev-a", "dev-a", shared_filter("origami", "origami/v1/devices/dev-a/state"))
    assert not acl.may_subscribe("collector", "k", shared_filter("origami", reports))   # samples only
