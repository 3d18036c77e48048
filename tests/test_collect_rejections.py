"""Malformed, oversized, duplicated and out-of-order samples messages over a real Mosquitto: none
crashes the collector, none is silently lost (each ends stored, counted as a duplicate, or rejected
with a reason in the index *and* on the device's events topic)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from controller.collect.index import Selection
from device.capture import WindowKey
from device.capture import encode_batch
from specs.v1alpha1.collection import MAX_PAYLOAD_BYTES
from specs.v1alpha1.protocol import samples_topic
from tests.collect_rig import CollectRig

KEY = WindowKey("accel", 50.0, (8, 3), "float32", "s1", "shake")


def batch(device: str, seq: int, windows: int = 2, start: float = 1000.0, boot: str = "boot-a") -> bytes:
    rng = np.random.default_rng(seq)
    arrays = [rng.standard_normal((8, 3)).astype(np.float32) for _ in range(windows)]
    times = [start + seq * 10 + i for i in range(windows)]
    return encode_batch(device, KEY, arrays, times, seq, boot)


@pytest.fixture
def rig(tmp_path, mosquitto):
    rig = CollectRig(tmp_path, mosquitto.url).start()
    yield rig
    rig.stop()


def publish(rig: CollectRig, device: str, payload: bytes) -> None:
    rig.device.publish_and_wait(samples_topic(device), payload)


def test_bad_messages_are_rejected_with_a_reason_and_the_collector_keeps_ingesting(rig):
    dev = rig.device_id("bad")
    good = json.loads(batch(dev, 0))
    cases = {
        "Malformed": [b"{not json", b"", json.dumps({"deviceId": dev, "sensor": "accel"}).encode(),
                      json.dumps(good | {"rateHz": -1}).encode()],
        "ShapeMismatch": [json.dumps(good | {"values": good["values"][:-1]}).encode()],
        "DeviceMismatch": [json.dumps(good | {"deviceId": "someone-else"}).encode()],
        "ValueOutOfRange": [json.dumps(good | {"dtype": "int8", "values": [300.0] * len(good["values"])}).encode()],
        "PayloadTooLarge": [b"{" + b" " * (MAX_PAYLOAD_BYTES + 10) + b"}"],
        "TooManyWindows": [json.dumps(good | {"windows": 1000, "values": good["values"] * 500,
                                              "windowTs": []}).encode()],
    }
    # An empty payload on a non-retained topic is a real (if odd) message: it must be rejected too.
    bad = [(reason, p) for reason, payloads in cases.items() for p in payloads]
    for _, payload in bad:
        publish(rig, dev, payload)
    publish(rig, dev, batch(dev, 1))                      # the collector is still alive after all that
    assert rig.collector.wait_for(windows=2, messages=len(bad) + 1, timeout=20)

    events = rig.wait_events("SampleRejected", len(bad))
    assert len(events) == len(bad)
    # every rejection names the payload it was about and why
    digests = sorted(e.digest for e in events)
    assert digests == sorted(hashlib.sha256(p).hexdigest() for _, p in bad)
    for reason, payload in bad:
        event = next(e for e in events if e.digest == hashlib.sha256(payload).hexdigest())
        assert event.message.startswith(reason), (reason, event.message)
        assert event.type == "Warning"
    recorded = rig.index.rejections(dev)
    assert sorted(r.reason for r in recorded) == sorted(reason for reason, _ in bad)
    counters = rig.index.device_counters()[dev]
    assert counters["messages"] == len(bad) + 1 and counters["rejected"] == len(bad) and counters["windows"] == 2
    assert rig.index.count(Selection(device=dev)) == 2


def test_duplicates_are_stored_once_and_counted(rig):
    dev = rig.device_id("dup")
    payload = batch(dev, 0, windows=3)
    for _ in range(4):                                     # QoS 1 retries arrive byte for byte
        publish(rig, dev, payload)
    assert rig.collector.wait_for(messages=4, timeout=15)
    assert rig.index.count(Selection(device=dev)) == 3
    counters = rig.index.device_counters()[dev]
    assert (counters["messages"], counters["windows"], counters["duplicates"]) == (4, 3, 9)
    assert rig.index.counts_by_label(Selection(device=dev)) == {"shake": 3}
    assert not rig.index.rejections(dev)


def test_out_of_order_batches_are_all_stored_in_time_order(rig):
    dev = rig.device_id("ooo")
    order = [3, 0, 2, 1, 4]
    for seq in order:
        publish(rig, dev, batch(dev, seq))
    assert rig.collector.wait_for(messages=len(order), timeout=15)
    records = rig.index.select(Selection(device=dev))
    assert len(records) == 2 * len(order)
    assert [r.ts for r in records] == sorted(r.ts for r in records)
    assert sorted({r.ts for r in records}) == sorted(1000.0 + s * 10 + i for s in order for i in range(2))
    counters = rig.index.device_counters()[dev]
    assert counters["out_of_order"] == 3                   # 0, 2 and 1 came after 3
    assert counters["last_seq"] == 4
    # a new capture (another boot) starting again from seq 0 is not out of order
    publish(rig, dev, batch(dev, 0, start=5000.0, boot="boot-b"))
    assert rig.collector.wait_for(messages=len(order) + 1, timeout=15)
    assert rig.index.device_counters()[dev]["out_of_order"] == 3
    assert not rig.index.rejections(dev)
