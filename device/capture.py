"""Device-side capture: sensor windows in, `SampleBatch` messages out.

`SampleCapture` groups windows that share sensor, rate, shape, session and label into batches
(several windows per message: MQTT in Python costs per message), publishes them while the link is
up and keeps them in a bounded buffer while it is down. When the buffer is full the oldest batches
go first, and the device says so with a `SamplesDropped` event once it is back: a loss is never
silent. Nothing is handed to paho while offline, because paho's own queue is unbounded.

`DeviceCollection` is what a device (agent or virtual board) attaches to its MQTT link: it follows
`CollectRequest`s on the device's collect topic and runs each campaign once with a virtual sensor.
"""
from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import numpy as np
from pydantic import ValidationError

from device.signals import SignalSource
from device.signals import signal_for
from specs.v1alpha1.collection import MAX_PAYLOAD_BYTES
from specs.v1alpha1.collection import CollectRequest
from specs.v1alpha1.collection import SampleBatch
from specs.v1alpha1.collection import collect_topic
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import events_topic
from specs.v1alpha1.protocol import now
from specs.v1alpha1.protocol import samples_topic
from wire.logs import get_logger

log = get_logger("collect.capture")

Publish = Callable[[str, bytes], None]


@dataclass(frozen=True)
class WindowKey:
    """What the windows of one batch share."""

    sensor: str
    rate_hz: float
    shape: tuple[int, ...]
    dtype: str
    session: str | None
    label: str | None
    fleet: str | None = None
    campaign: str | None = None


@dataclass
class CaptureStats:
    windows: int = 0            # windows handed to the capture
    published: int = 0          # windows handed to MQTT
    batches: int = 0
    dropped: int = 0            # windows dropped because the offline buffer was full
    buffered: int = 0           # windows waiting (offline)


@dataclass
class _Pending:
    key: WindowKey
    arrays: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


def encode_batch(device_id: str, key: WindowKey, arrays: list[np.ndarray], times: list[float], seq: int,
                 boot: str) -> bytes:
    """One `SampleBatch` payload; float values are rounded to 6 decimals (float32 keeps about 7 digits)."""
    stacked = np.stack(arrays)
    values = np.round(stacked.astype(np.float64), 6).ravel().tolist() if key.dtype == "float32" \
        else stacked.astype(np.int64).ravel().tolist()
    batch = SampleBatch(deviceId=device_id, sensor=key.sensor, session=key.session, label=key.label,
                        rateHz=key.rate_hz, shape=list(key.shape), dtype=key.dtype, values=values,
                        windows=len(arrays), windowTs=times, ts=times[0], seq=seq, boot=boot,
                        fleet=key.fleet, campaign=key.campaign)
    return encode(batch)


class SampleCapture:
    """Batches windows and publishes them; thread-safe."""

    def __init__(self, device_id: str, publish: Publish, connected: Callable[[], bool], *,
                 batch_windows: int = 16, max_buffer_bytes: int = 4 * 1024 * 1024, boot: str | None = None) -> None:
        self.device_id = device_id
        self._publish = publish
        self._connected = connected
        self.batch_windows = max(1, batch_windows)
        self.max_buffer_bytes = max_buffer_bytes
        self.boot = boot or uuid.uuid4().hex[:16]
        self.stats = CaptureStats()
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        self._outbox: deque[tuple[bytes, int]] = deque()    # (payload, windows)
        self._outbox_bytes = 0
        self._seq = 0
        self._dropped_unreported = 0

    def add(self, window: np.ndarray, key: WindowKey, ts: float | None = None) -> None:
        """Record one window; publishes a batch once `batch_windows` windows share a key."""
        with self._lock:
            self.stats.windows += 1
            if self._pending is not None and self._pending.key != key:
                self._seal()
            if self._pending is None:
                self._pending = _Pending(key)
            self._pending.arrays.append(np.asarray(window))
            self._pending.times.append(round(ts if ts is not None else time.time(), 6))
            if len(self._pending.arrays) >= self.batch_windows or self._too_big(self._pending):
                self._seal()
        self.flush(seal=False)

    def flush(self, seal: bool = True) -> int:
        """Publish what waits (and, with `seal`, the partial batch too) if the link is up; returns the
        number of windows still buffered."""
        with self._lock:
            if seal and self._pending is not None:
                self._seal()
            if self._connected():
                if self._dropped_unreported:
                    dropped, self._dropped_unreported = self._dropped_unreported, 0
                    self._publish(events_topic(self.device_id), encode(Event(
                        deviceId=self.device_id, type="Warning", reason="SamplesDropped",
                        message=f"{dropped} sensor windows dropped while offline: the capture buffer "
                                f"({self.max_buffer_bytes} bytes) was full")))
                while self._outbox and self._connected():
                    payload, windows = self._outbox.popleft()
                    self._outbox_bytes -= len(payload)
                    self._publish(samples_topic(self.device_id), payload)
                    self.stats.published += windows
                    self.stats.batches += 1
            self.stats.buffered = sum(w for _, w in self._outbox) + (len(self._pending.arrays) if self._pending else 0)
            return self.stats.buffered

    # --- internals (lock held) ----------------------------------------------------------------
    def _too_big(self, pending: _Pending) -> bool:
        # about 12 bytes of JSON per value: seal before a batch could exceed the collector's limit
        return len(pending.arrays) * pending.arrays[0].size * 12 > MAX_PAYLOAD_BYTES // 2

    def _seal(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None or not pending.arrays:
            return
        payload = encode_batch(self.device_id, pending.key, pending.arrays, pending.times, self._seq, self.boot)
        self._seq += 1
        self._outbox.append((payload, len(pending.arrays)))
        self._outbox_bytes += len(payload)
        while self._outbox_bytes > self.max_buffer_bytes and len(self._outbox) > 1:
            old, windows = self._outbox.popleft()
            self._outbox_bytes -= len(old)
            self.stats.dropped += windows
            self._dropped_unreported += windows
            log.warning("capture buffer full, oldest batch dropped",
                        extra={"device": self.device_id, "windows": windows})


class CollectionRun:
    """One campaign: `durationSeconds` of `sensor` in windows of `window` readings.

    Timestamps are the sensor's own clock (start + i * window / rate). `pace` scales real time:
    1.0 records in real time, 0 as fast as the signal can be generated (tests, benches)."""

    def __init__(self, request: CollectRequest, signal: SignalSource, capture: SampleCapture, *,
                 pace: float = 1.0, stop: threading.Event | None = None) -> None:
        self.request = request
        self.signal = signal
        self.capture = capture
        self.pace = pace
        self.stop = stop or threading.Event()
        self.windows_total = max(1, math.floor(request.durationSeconds * request.rateHz / request.window))

    def run(self) -> int:
        r = self.request
        dtype = getattr(self.signal, "dtype", "float32")  # a microphone gives int16 PCM, as its ADC does
        key = WindowKey(r.sensor, r.rateHz, tuple(self.signal.shape(r.window)), dtype, r.session, r.label,
                        r.fleet, r.campaign)
        period = r.window / r.rateHz
        start, begun = now(), time.monotonic()
        done = 0
        for i in range(self.windows_total):
            if self.stop.is_set():
                break
            if self.pace > 0:
                delay = begun + i * period * self.pace - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
            self.capture.add(self.signal.window(r.window, r.label), key, ts=start + i * period)
            done += 1
        self.capture.flush()
        log.info("campaign recorded", extra={"device": self.capture.device_id, "campaign": r.campaign,
                                             "windows": done})
        return done


class DeviceCollection:
    """Attach to a device's MQTT link (`MqttLink`): follow its collect topic and record campaigns.

        collection = DeviceCollection.attach(board.agent.link, board.device_id, pace=0)
    """

    def __init__(self, link, device_id: str, *, pace: float = 1.0,
                 signals: Callable[[str, str, float], SignalSource] = signal_for, batch_windows: int = 16,
                 max_buffer_bytes: int = 4 * 1024 * 1024) -> None:
        self.link = link
        self.device_id = device_id
        self.pace = pace
        self._signals = signals
        self._sources: dict[tuple[str, float], SignalSource] = {}
        self.capture = SampleCapture(device_id, lambda topic, payload: link.publish(topic, payload, qos=1),
                                     link.connected.is_set, batch_windows=batch_windows,
                                     max_buffer_bytes=max_buffer_bytes)
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.campaigns_done = threading.Condition()
        self.finished: list[str] = []
        self._pump = threading.Thread(target=self._drain, name=f"capture-{device_id}", daemon=True)

    @classmethod
    def attach(cls, link, device_id: str, **options) -> DeviceCollection:
        collection = cls(link, device_id, **options)
        link.subscribe(collect_topic(device_id), collection._on_request)
        collection._pump.start()
        return collection

    def close(self) -> None:
        self._stop.set()

    def source(self, sensor: str, rate_hz: float) -> SignalSource:
        key = (sensor, rate_hz)
        if key not in self._sources:  # one signal per sensor: its random state continues across campaigns
            self._sources[key] = self._signals(sensor, self.device_id, rate_hz)
        return self._sources[key]

    def run(self, request: CollectRequest) -> int:
        """Record one campaign now, in the calling thread (the subscription runs it in its own)."""
        count = CollectionRun(request, self.source(request.sensor, request.rateHz), self.capture,
                              pace=self.pace, stop=self._stop).run()
        with self.campaigns_done:
            self.finished.append(request.campaign)
            self.campaigns_done.notify_all()
        return count

    def _on_request(self, topic: str, payload: bytes) -> None:   # paho's thread: only start a thread
        if not payload:
            return
        try:
            request = CollectRequest.model_validate_json(payload)
        except ValidationError as err:
            log.warning("malformed collect request", extra={"device": self.device_id, "error": str(err)[:300]})
            return
        with self._lock:
            if request.deviceId != self.device_id or request.campaign in self._done:
                return
            self._done.add(request.campaign)
        threading.Thread(target=self._run_safely, args=(request,), name=f"campaign-{self.device_id}",
                         daemon=True).start()

    def _run_safely(self, request: CollectRequest) -> None:
        try:
            self.run(request)
        except Exception as err:  # a broken sensor must not take the agent down; say why
            log.exception("campaign failed", extra={"device": self.device_id, "campaign": request.campaign})
            if self.link.connected.is_set():
                self.link.publish(events_topic(self.device_id), encode(Event(
                    deviceId=self.device_id, type="Warning", reason="CollectFailed",
                    message=f"campaign {request.campaign}: {err}"[:1024])))

    def _drain(self) -> None:
        while not self._stop.wait(0.2):
            if self.capture.stats.buffered:
                self.capture.flush(seal=False)
