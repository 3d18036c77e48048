"""How device reports split among controller replicas (issue 17, docs/scale.md "MQTT at scale"):
`replicas` DeviceHubs on a local Mosquitto, first each with normal subscriptions (every replica gets
every report), then in one MQTT 5 share group (each report to one replica). One publisher sends
`reports` presence reports (QoS 1, one device id each); the figures are the reports each replica
consumed and the seconds until all expected deliveries arrived.

    .venv/bin/python bench/scale.py --split 3 [--split-reports 5000] --converge 0 --sizes 1000 --json
"""
from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from controller.devices.hub import DeviceHub
from controller.store.artifacts import ArtifactStore
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import presence_topic
from wire.mqtt import DEFAULT_SHARE_GROUP
from wire.mqtt import MqttLink

WAIT_S = 120.0   # bound on one mode's deliveries; a slower run fails the bench rather than hanging


class Counted:
    """One replica's hub, counting the reports it consumes (on paho's thread: a counter only)."""

    def __init__(self, name: str, url: str, artifacts: Path, group: str | None) -> None:
        self.hub = DeviceHub(url, ArtifactStore(artifacts), client_id=f"bench-{name}", queue_reports=False,
                             share_group=group)
        self.count = 0
        self._lock = threading.Lock()
        self.hub.on_report(self._seen)

    def _seen(self, report) -> None:
        with self._lock:
            self.count += 1


def one_mode(url: str, replicas: int, reports: int, group: str | None, artifacts: Path, tag: str) -> dict:
    hubs = [Counted(f"{tag}-r{i}", url, artifacts, group) for i in range(replicas)]
    publisher = MqttLink(f"bench-{tag}-devices", url).start(10)
    try:
        for counted in hubs:
            counted.hub.start(10)
        expected = reports if group else reports * replicas
        started = time.perf_counter()
        info = None
        for i in range(reports):
            device_id = f"{tag}-{i:06d}"
            info = publisher.publish(presence_topic(device_id), encode(Presence(deviceId=device_id, online=True)))
        if info is not None:
            info.wait_for_publish(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while sum(c.count for c in hubs) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        per_replica = [c.count for c in hubs]
        if sum(per_replica) < expected:
            raise RuntimeError(f"{tag}: {sum(per_replica)} of {expected} deliveries within {WAIT_S:.0f} s")
        return {"per_replica": per_replica, "seconds": round(seconds, 2),
                "max_share": round(max(per_replica) / reports, 3)}
    finally:
        publisher.stop()
        for counted in hubs:
            counted.hub.stop()


def measure_split(replicas: int, reports: int) -> dict:
    """The figures `bench/scale.py --split N` adds to its JSON."""
    from tests.conftest import start_mosquitto
    from tests.conftest import stop_mosquitto

    with tempfile.TemporaryDirectory(prefix="origami-split-") as tmp:
        broker = start_mosquitto(Path(tmp) / "mosquitto")
        try:
            alone = one_mode(broker.url, replicas, reports, None, Path(tmp) / "artifacts", "all")
            shared = one_mode(broker.url, replicas, reports, DEFAULT_SHARE_GROUP, Path(tmp) / "artifacts", "shared")
        finally:
            stop_mosquitto(broker)
    return {"split_replicas": replicas, "split_reports": reports,
            "split_per_replica_unshared": alone["per_replica"], "split_per_replica_shared": shared["per_replica"],
            "split_max_share_unshared": alone["max_share"], "split_max_share_shared": shared["max_share"],
            "split_seconds_unshared": alone["seconds"], "split_seconds_shared": shared["seconds"]}
