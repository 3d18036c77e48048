"""The collector: `samples` messages from every device, validated, stored and indexed.

paho's network thread only queues (topic, payload, mid); one worker drains up to `drain_max`
messages at a time, validates each (`parse_message`, pure), writes the accepted windows as one
segment, indexes them in one transaction, reports each rejection on the device's events topic
(reason `SampleRejected`, the payload's sha256 as `digest`) and only then acknowledges the drained
messages (manual PUBACK on a persistent session): a collector killed mid-round gets those
messages again from the broker, and the index's unique key makes the second delivery a duplicate.

With `share_group` (controller replicas), the collector subscribes through an MQTT 5 shared
subscription, `$share/GROUP/...`: each sample message goes to one replica's collector, and the index
is the one every replica shares (the state directory's), so the group stores each window once.

Nothing a device sends can stop the worker: every message ends as stored, duplicate or rejected
(with a reason recorded in the index and sent back), and counted.
"""
from __future__ import annotations

import hashlib
import math
import queue
import threading
import time
from collections import Counter
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from controller.collect.index import NewWindow
from controller.collect.index import Rejection
from controller.collect.index import SampleIndex
from controller.collect.segments import window_digest
from controller.collect.segments import write_segment
from controller.store.artifacts import ArtifactStore
from specs.errors import DeviceError
from specs.v1alpha1.collection import MAX_PAYLOAD_BYTES
from specs.v1alpha1.collection import MAX_SHAPE_RANK
from specs.v1alpha1.collection import MAX_VALUES_PER_WINDOW
from specs.v1alpha1.collection import MAX_WINDOWS_PER_BATCH
from specs.v1alpha1.collection import SampleBatch
from specs.v1alpha1.protocol import DEVICE_ID_PATTERN
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import encode
from wire import topics
from wire.logs import get_logger
from wire.mqtt import BrokerConnection
from wire.mqtt import shared_filter

log = get_logger("collect.ingest")

SESSION_EXPIRY_S = 24 * 3600   # MQTT 5: how long the broker keeps a persistent collector's session and messages
_DTYPE_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Accepted:
    batch: SampleBatch
    windows: list[np.ndarray]


@dataclass(frozen=True)
class Rejected:
    reason: str          # CamelCase, as in Event.reason
    message: str


def parse_message(device_id: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> Accepted | Rejected:
    """Validate one samples payload published on `device_id`'s topic; never raises."""
    if len(payload) > max_bytes:
        return Rejected("PayloadTooLarge", f"message of {len(payload)} bytes exceeds the collector's limit of "
                                           f"{max_bytes} bytes; send fewer windows per batch")
    if not payload:
        return Rejected("Malformed", "empty samples message")
    try:
        batch = SampleBatch.model_validate_json(payload)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        return Rejected("Malformed", f"not a valid samples message: {where}: {first.get('msg', 'invalid')} "
                                     f"({err.error_count()} error(s))")
    except Exception as err:
        return Rejected("Malformed", f"not a valid samples message: {err}")
    if batch.deviceId != device_id:
        return Rejected("DeviceMismatch", f"message names device {batch.deviceId} but was published on "
                                          f"{device_id}'s topic")
    if len(batch.shape) > MAX_SHAPE_RANK or any(d <= 0 for d in batch.shape):
        return Rejected("BadShape", f"window shape {batch.shape} must have 1 to {MAX_SHAPE_RANK} positive sizes")
    size = math.prod(batch.shape)
    if size > MAX_VALUES_PER_WINDOW:
        return Rejected("WindowTooLarge", f"window of shape {batch.shape} has {size} values, above the limit of "
                                          f"{MAX_VALUES_PER_WINDOW}")
    if batch.windows > MAX_WINDOWS_PER_BATCH:
        return Rejected("TooManyWindows", f"{batch.windows} windows in one message, above the limit of "
                                          f"{MAX_WINDOWS_PER_BATCH}")
    if len(batch.values) != batch.windows * size:
        return Rejected("ShapeMismatch", f"{len(batch.values)} values do not make {batch.windows} window(s) of "
                                         f"shape {batch.shape} ({batch.windows * size} values)")
    if batch.windowTs and len(batch.windowTs) != batch.windows:
        return Rejected("ShapeMismatch", f"{len(batch.windowTs)} window times for {batch.windows} window(s)")
    values = np.asarray(batch.values, dtype=np.float64)
    if not np.isfinite(values).all():
        return Rejected("NonFiniteValues", "values contain NaN or infinity")
    if batch.dtype in _DTYPE_RANGES:
        low, high = _DTYPE_RANGES[batch.dtype]
        if values.size and (values.min() < low or values.max() > high or not np.all(values == np.round(values))):
            return Rejected("ValueOutOfRange", f"values do not fit dtype {batch.dtype} ({low}..{high}, integers)")
    elif values.size and np.abs(values).max() > np.finfo(np.float32).max:
        return Rejected("ValueOutOfRange", "values overflow float32")
    windows = list(values.astype(np.float32).reshape((batch.windows, *batch.shape)))
    return Accepted(batch, windows)


@dataclass
class CollectorStats:
    messages: int = 0
    windows: int = 0                 # windows stored (new)
    duplicates: int = 0              # windows already in the index (retries, redeliveries)
    rejected: Counter = field(default_factory=Counter)   # by reason
    out_of_order: int = 0            # batches older than one already seen from the same capture
    rounds: int = 0

    def to_dict(self) -> dict:
        return {"messages": self.messages, "windows": self.windows, "duplicates": self.duplicates,
                "rejected": dict(self.rejected), "outOfOrder": self.out_of_order, "rounds": self.rounds}


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


class Collector:
    """Subscribe to every device's samples and ingest them.

        collector = Collector("mqtt://127.0.0.1:1883", SampleIndex(path), ArtifactStore(root)).start()
        collector.wait_for(windows=100, timeout=30)
    """

    def __init__(self, url: str | BrokerConnection, index: SampleIndex, store: ArtifactStore, *,
                 client_id: str = "origami-collector",
                 username: str | None = None, password: str | None = None, persistent: bool = True,
                 drain_max: int = 1000, max_bytes: int = MAX_PAYLOAD_BYTES, share_group: str | None = None) -> None:
        self.index = index
        self.store = store
        self.client_id = client_id
        self.drain_max = drain_max
        self.max_bytes = max_bytes
        connection = BrokerConnection.of(url)
        if username is not None:
            connection = connection.as_user(username, password)
        self.address = connection.address
        self.tenant = connection.tenant  # topics move in and out of the tenant's namespace (wire.topics)
        self.stats = CollectorStats()
        self.changed = threading.Condition()        # notified after every round
        self._inbox: queue.Queue[_Message | None] = queue.Queue()
        self._positions = index.device_positions()  # device -> (boot, last seq)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="collector", daemon=True)
        self.connected = threading.Event()
        self.share_group = share_group
        self._persistent = persistent
        if share_group is None:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                 clean_session=not persistent, protocol=mqtt.MQTTv311, manual_ack=True)
        else:  # MQTT 5: the session's persistence is asked for on connect (clean start, session expiry)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                 manual_ack=True)
        connection.configure(client)
        client.reconnect_delay_set(min_delay=0.2, max_delay=10)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = lambda *a: self.connected.clear()
        client.on_message = self._on_message
        self._client = client
        self._ingest_hooks: list[Callable[[str, int], None]] = []

    def on_ingest(self, callback: Callable[[str, int], None]) -> None:
        """Call `callback(sensor, windows)` once a round is stored (before `wait_for` wakes), per sensor,
        with the windows newly stored (duplicates excluded), on the worker thread; keep it short. A
        failing callback is logged only (metrics use it)."""
        self._ingest_hooks.append(callback)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Collector:
        self._worker.start()
        if self.share_group is None:
            self._client.connect_async(self.address.host, self.address.port, keepalive=30)
        else:
            properties = Properties(PacketTypes.CONNECT)
            if self._persistent:  # as MQTT 3.1.1's persistent session: kept while the collector is away
                properties.SessionExpiryInterval = SESSION_EXPIRY_S
            self._client.connect_async(self.address.host, self.address.port, keepalive=30,
                                       clean_start=not self._persistent, properties=properties)
        self._client.loop_start()
        if not self.connected.wait(timeout):
            self.stop()
            raise DeviceError(f"collector cannot connect to MQTT broker {self.address.host}:{self.address.port} "
                              f"within {timeout:.0f} s; check the URL and that the broker runs")
        return self

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Finish the messages already received, then disconnect."""
        deadline = time.monotonic() + drain_timeout
        while not self._inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._inbox.put(None)
        self._worker.join(drain_timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_for(self, *, windows: int = 0, messages: int = 0, timeout: float = 30.0) -> bool:
        """Wait until at least `windows` windows are stored and `messages` messages handled."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.stats.windows < windows or self.stats.messages < messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    # --- network thread: only queue -----------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the collector", extra={"reason": str(reason_code)})
            return
        topic_filter = topics.into_namespace(topics.all_devices("samples"), self.tenant)
        if self.share_group is not None:
            topic_filter = shared_filter(self.share_group, topic_filter)
        client.subscribe(topic_filter, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # Ready only once the broker acknowledged the subscription: a sample published between the
        # CONNACK and the SUBACK would otherwise be lost on a fresh (non-persistent) session.
        if any(getattr(code, "is_failure", False) for code in reason_codes):
            log.warning("broker refused the collector's subscription", extra={"reason": str(reason_codes)})
            return
        self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        self._inbox.put(_Message(topics.out_of_namespace(message.topic, self.tenant), message.payload, message.mid,
                                 message.qos))

    # --- worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.drain_max:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._inbox.put(None)
                    break
                batch.append(item)
            delay = 0.1
            while True:
                try:
                    self.ingest(batch)
                    break
                except Exception:  # storage trouble: keep the messages unacknowledged and try again
                    log.exception("ingest round failed; retrying", extra={"messages": len(batch)})
                    if self._stop.wait(delay):
                        return
                    delay = min(delay * 2, 5.0)
            for item in batch:
                if item.qos > 0:
                    self._client.ack(item.mid, item.qos)

    def ingest(self, messages: list[_Message]) -> None:
        """One round: validate, store, index, report. Public so that tests and tools can feed it."""
        counters: dict[str, dict] = defaultdict(lambda: defaultdict(int))
        accepted, rejections = self._validate(messages, counters, time.time())
        new = self._store_windows(accepted, counters)
        plain = {d: dict(c) for d, c in counters.items()}
        inserted = self.index.add(new, [r for _, _, r in rejections], plain)
        for _device, valid, rejection in rejections:
            self._report(valid, rejection)
        stored = sum(inserted)
        self._notify_hooks(Counter(w.sensor for w, fresh in zip(new, inserted) if fresh))
        with self.changed:
            self.stats.messages += len(messages)
            self.stats.windows += stored
            self.stats.duplicates += len(inserted) - stored
            self.stats.out_of_order += sum(c.get("out_of_order", 0) for c in plain.values())
            self.stats.rejected.update(r.reason for _, _, r in rejections)
            self.stats.rounds += 1
            self.changed.notify_all()
        log.debug("ingest round", extra={"messages": len(messages), "stored": stored,
                                         "duplicates": len(inserted) - stored, "rejected": len(rejections)})

    def _validate(self, messages: list[_Message], counters: dict[str, dict], received: float
                  ) -> tuple[list[tuple[str, Accepted]], list[tuple[str, str | None, Rejection]]]:
        """Each message accepted or rejected (device, valid id or None, rejection), counted per device."""
        accepted: list[tuple[str, Accepted]] = []
        rejections: list[tuple[str, str | None, Rejection]] = []
        for m in messages:
            ref = topics.parse(m.topic)
            device = ref.device_id if ref is not None else m.topic.split("/")[-2][:63] if "/" in m.topic else "?"
            valid = ref is not None and _valid_device(device)
            try:
                outcome = parse_message(device, m.payload, self.max_bytes) if valid else \
                    Rejected("BadTopic", f"topic {m.topic[:120]} does not name a valid device id")
            except Exception as err:
                outcome = Rejected("InternalError", f"collector could not validate the message: {err}")
            counters[device]["messages"] += 1
            if isinstance(outcome, Rejected):
                digest = hashlib.sha256(m.payload).hexdigest()
                rejections.append((device, device if valid else None,
                                   Rejection(device, outcome.reason, outcome.message, digest, len(m.payload),
                                             received)))
                counters[device]["rejected"] += 1
            else:
                accepted.append((device, outcome))
        return accepted, rejections

    def _store_windows(self, accepted: list[tuple[str, Accepted]], counters: dict[str, dict]) -> list[NewWindow]:
        """Write the accepted windows into one segment; the index rows to add. Batches that arrive
        behind a device's last sequence (same boot) are stored all the same and counted out of order."""
        windows, rows = [], []
        for device, ok in accepted:
            b = ok.batch
            if b.seq is not None:
                boot, last = self._positions.get(device, (None, None))
                if boot == b.boot and last is not None and b.seq <= last:
                    counters[device]["out_of_order"] += 1
                else:
                    self._positions[device] = (b.boot, b.seq)
                    counters[device]["boot"], counters[device]["last_seq"] = b.boot, b.seq
            for window, ts in zip(ok.windows, b.window_times()):
                windows.append(window)
                rows.append((device, b, ts))
        blob, offsets = write_segment(self.store, windows) if windows else ("", [])
        return [NewWindow(device, b.sensor, ts, window_digest(w), blob, off, tuple(b.shape), b.dtype, b.rateHz,
                          b.session, b.fleet, b.campaign, b.boot, b.seq, b.label)
                for (device, b, ts), w, off in zip(rows, windows, offsets)]

    def _notify_hooks(self, by_sensor: Counter[str]) -> None:
        for hook in self._ingest_hooks:
            for sensor, n in by_sensor.items():
                try:
                    hook(sensor, n)
                except Exception:
                    log.exception("ingest callback failed", extra={"sensor": sensor, "windows": n})

    def _report(self, device: str | None, rejection: Rejection) -> None:
        log.warning("samples message rejected", extra={"device": rejection.device_id, "reason": rejection.reason,
                                                        "detail": rejection.message})
        if device is None:
            return  # no valid device topic to answer on; the rejection is in the index
        event = Event(deviceId=device, type="Warning", reason="SampleRejected",
                      message=f"{rejection.reason}: {rejection.message}"[:1024], digest=rejection.payload_digest)
        self._client.publish(topics.into_namespace(topics.events_topic(device), self.tenant), encode(event), qos=1)


def _valid_device(device_id: str) -> bool:
    import re

    return re.match(DEVICE_ID_PATTERN, device_id) is not None
