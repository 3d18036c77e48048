"""Attack: a client on the broker makes up device ids (2,000 hellos, each from another id) to fill the
controller's device table and event trail. With enrollment on, no row is written for an id that is
not enrolled, and the Warnings are rate-limited; the one enrolled device is recorded as usual.

Real Mosquitto (anonymous, so the attacker can publish under any id: the worst case the broker's ACL
otherwise prevents), the real DeviceHub, HubLink and the loop's report ingest over a real state store."""
from __future__ import annotations

import time
import uuid

from controller.devices.hub import DeviceHub
from controller.reconciler.reports import ReportIngest
from controller.reconciler.wiring import HubLink
from controller.state import open_store
from controller.store.artifacts import ArtifactStore
from specs.v1alpha1 import protocol as p
from wire.mqtt import MqttLink

FORGED = 2_000


def hello(device_id: str) -> bytes:
    return p.encode(p.Hello(deviceId=device_id, agent="test", agentVersion="0",
                            capabilities=p.Capabilities(family="linux")))


def test_two_thousand_hellos_from_unenrolled_ids_leave_no_rows_and_few_warnings(fresh_mosquitto, tmp_path):
    run = uuid.uuid4().hex[:8]
    enrolled = f"dev-{run}"
    hub = DeviceHub(fresh_mosquitto.url, ArtifactStore(tmp_path / "artifacts"), client_id=f"hub-{run}",
                    enrolled=lambda device_id: device_id == enrolled).start(5)
    store = open_store(tmp_path)
    ingest = ReportIngest(store, HubLink(hub))
    attacker = MqttLink(f"attacker-{run}", fresh_mosquitto.url).start(5)
    try:
        for i in range(FORGED):
            attacker.publish(p.hello_topic(f"forged-{run}-{i}"), hello(f"forged-{run}-{i}"))
        attacker.publish_and_wait(p.hello_topic(enrolled), hello(enrolled))  # after every forged one
        deadline = time.monotonic() + 30
        while store.device(enrolled) is None and time.monotonic() < deadline:
            ingest.ingest()
            time.sleep(0.05)
        ingest.ingest()
    finally:
        attacker.stop()
        hub.stop()

    assert [d.device_id for d in store.devices()] == [enrolled]  # not one row for a made-up id
    events = store.events()
    assert events and all(e.type == "Warning" for e in events)
    assert len(events) <= 60  # a minute's worth: 50 shown one by one, the rest counted
    assert all(e.reason in ("MessageRejected", "RejectionsDropped") for e in events)
    assert all("NotEnrolled" in e.message for e in events if e.reason == "MessageRejected")
    assert ingest.rejected <= 100  # the hub reported at most 100 ids this minute
    assert len(ingest.limit._windows) <= ingest.limit.max_tracked
    assert hub.hellos().keys() == {enrolled}  # nor does the hub keep what it refused
    store.close()
