"""Device-side capture: windows are batched, kept in a bounded buffer while offline, the oldest
dropped first when it is full, and the loss announced (SamplesDropped) once back online."""
from __future__ import annotations

import numpy as np

from device.capture import SampleCapture
from device.capture import WindowKey
from device.signals import Accelerometer
from device.signals import signal_for
from specs.v1alpha1.collection import SampleBatch
from specs.v1alpha1.protocol import Event

KEY = WindowKey("accel", 50.0, (64, 3), "float32", "s", "idle")


class Link:
    def __init__(self) -> None:
        self.up = False
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        assert self.up, "nothing may be handed to MQTT while offline"
        self.sent.append((topic, payload))


def test_batches_share_a_key_and_keep_window_times():
    link = Link()
    link.up = True
    capture = SampleCapture("dev-1", link.publish, lambda: link.up, batch_windows=4)
    signal = Accelerometer("dev-1")
    for i in range(6):
        capture.add(signal.window(64, "shake"), KEY, ts=100.0 + i)
    capture.add(signal.window(64, "idle"), WindowKey("accel", 50.0, (64, 3), "float32", "s", "tilt"), ts=200.0)
    capture.flush()
    batches = [SampleBatch.model_validate_json(p) for _, p in link.sent]
    assert [(b.windows, b.label, b.seq) for b in batches] == [(4, "idle", 0), (2, "idle", 1), (1, "tilt", 2)]
    assert batches[1].window_times() == [104.0, 105.0]
    assert len(batches[0].values) == 4 * 64 * 3
    assert capture.stats.published == 7 and capture.stats.buffered == 0


def test_offline_buffer_is_bounded_and_the_loss_is_reported():
    link = Link()
    one_batch = 4 * 64 * 3 * 12                     # about what a 4-window batch costs in JSON
    capture = SampleCapture("dev-2", link.publish, lambda: link.up, batch_windows=4, max_buffer_bytes=3 * one_batch)
    signal = signal_for("accel", "dev-2", 50.0)
    for i in range(40):
        capture.add(signal.window(64, "idle"), KEY, ts=float(i))
    assert link.sent == []
    kept = capture.stats.buffered
    assert capture.stats.dropped > 0 and kept + capture.stats.dropped == 40
    assert capture._outbox_bytes <= 3 * one_batch

    link.up = True
    capture.flush()
    topics = [t.rsplit("/", 1)[1] for t, _ in link.sent]
    assert topics[0] == "events"                     # the loss is said before the data that survived
    event = Event.model_validate_json(link.sent[0][1])
    assert event.reason == "SamplesDropped" and str(capture.stats.dropped) in event.message
    batches = [SampleBatch.model_validate_json(p) for t, p in link.sent[1:]]
    assert sum(b.windows for b in batches) == kept
    # the newest windows survived, in order
    times = [t for b in batches for t in b.window_times()]
    assert times == sorted(times) and times[-1] == 39.0


def test_virtual_accelerometers_differ_per_device_but_replay_the_same_signal():
    a1, a2, b = Accelerometer("dev-a"), Accelerometer("dev-a"), Accelerometer("dev-b")
    wa1, wa2, wb = a1.window(64, "idle"), a2.window(64, "idle"), b.window(64, "idle")
    np.testing.assert_array_equal(wa1, wa2)
    assert not np.allclose(wa1.mean(axis=0), wb.mean(axis=0), atol=1e-3)   # calibration offsets differ
    assert abs(float(np.linalg.norm(wa1.mean(axis=0))) - 1.0) < 0.15        # about 1 g at rest
    shake = a1.window(64, "shake")
    assert shake[:, 0].std() > 5 * wa1[:, 0].std()
