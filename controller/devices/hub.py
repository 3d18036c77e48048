"""`DeviceHub`: the controller's one connection to its devices.

It keeps the latest hello, reported state and presence of every device, hands every report to
callbacks and to a thread-safe queue, publishes signed desired states and the key announcement
(both retained), and serves artifact transfers from an artifact store. The reconciler uses only
this class.

With `share_group` (controller replicas, docs/scale.md "MQTT at scale"), the reports, the transfer
requests and the samples arrive through MQTT 5 shared subscriptions: each goes to one replica of the
group, which records it in the shared state. What each replica needs for itself stays a normal
subscription: chunk acks (to the transfers it serves) and, read once at start and on every fleet
takeover (`reread_retained`), the retained hellos, states and presence, which a shared subscription
never delivers.

Everything a device sends is untrusted: a payload over its channel's size bound, or from a device
id that is not enrolled (when `enrolled` is given), is dropped before it is parsed, and reported
to the `on_rejected` callbacks at most once per device id per interval (`RejectionLimiter`).

    hub = DeviceHub("mqtt://127.0.0.1:1883", store, username="controller", password=...)
    hub.start()
    hub.announce_keys(signer.announcement())
    hub.set_desired("dev-1", desired_state(signer, "dev-1", "rpi4", 3, manifest))
    report = hub.reports.get(timeout=5)   # DeviceReport(device_id, channel, message)
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError

from controller.devices.enrollment import RejectionLimiter
from controller.devices.signing import Signer
from controller.devices.transfer import ArtifactSender
from controller.devices.transfer import ArtifactSource
from specs.v1alpha1.protocol import DEFAULT_CHUNK_SIZE
from specs.v1alpha1.protocol import ChunkAck
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import KeyAnnouncement
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import Sample
from specs.v1alpha1.protocol import TransferRequest
from specs.v1alpha1.protocol import decode
from specs.v1alpha1.protocol import encode
from wire import topics
from wire.logs import get_logger
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink
from wire.mqtt import TlsOptions

M = TypeVar("M", bound=BaseModel)

log = get_logger("devices.hub")

_REPORTS: dict[str, type[BaseModel]] = {
    "hello": Hello, "state": ReportedState, "presence": Presence, "events": Event, "samples": Sample,
}
RETAINED_CHANNELS = ("hello", "state", "presence")   # what devices publish retained (docs/protocol.md)
# The largest payload each channel may carry; anything larger is dropped unread.
MAX_PAYLOAD_BYTES: dict[str, int] = {
    "hello": 64 * 1024, "state": 64 * 1024, "presence": 4 * 1024, "events": 64 * 1024, "samples": 1024 * 1024,
    "transfer/request": 4 * 1024, "transfer/ack": 4 * 1024,
}
Rejected = Callable[[str, str, str], None]   # (device id, channel, reason)


@dataclass(frozen=True)
class DeviceReport:
    device_id: str
    channel: str          # "hello", "state", "presence", "events" or "samples"
    message: BaseModel


class SequenceClock:
    """Strictly increasing sequences for desired states: max(last + 1, wall-clock milliseconds), so a
    process that starts again (or a controller restored from a backup) still moves forward. The
    reconciler allocates from its state store instead (`StateStore.allocate_sequence`)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, int(time.time() * 1000))
            return self._last


_SEQUENCES = SequenceClock()


def desired_state(signer: Signer, device_id: str, board: str, generation: int, manifest: Manifest | None, *,
                  sequence: int | None = None, fleet: str = "", chunk_size: int = DEFAULT_CHUNK_SIZE,
                  **options) -> DesiredState:
    """A desired state for one device of `board` (its `Capabilities.board_class`), signed as a whole
    (`manifest=None`: keep running what it runs). Without `sequence`, the next of this process."""
    artifact = signer.sign(manifest) if manifest is not None else None
    return signer.sign_desired(DesiredState(
        deviceId=device_id, board=board, fleet=fleet, generation=generation,
        sequence=sequence if sequence is not None else _SEQUENCES.next(), artifact=artifact,
        chunkSize=chunk_size, **options))


class DeviceHub:
    def __init__(self, url: str | BrokerConnection, store: ArtifactSource, *, username: str | None = None,
                 password: str | None = None, tls: TlsOptions | None = None, client_id: str = "origami-controller",
                 queue_reports: bool = True, enrolled: Callable[[str], bool] | None = None,
                 rejections: RejectionLimiter | None = None, share_group: str | None = None) -> None:
        self.link = MqttLink(client_id, url, username=username, password=password, tls=tls, share_group=share_group)
        self.share_group = share_group
        self._enrolled = enrolled        # None: every device id is believed (an open development broker)
        self._rejections = rejections or RejectionLimiter()
        self._rejected_callbacks: list[Rejected] = []
        self.sender = ArtifactSender(store, self._send)
        self.reports: queue.Queue[DeviceReport] = queue.Queue()
        self._queue_reports = queue_reports
        self._callbacks: list[Callable[[DeviceReport], None]] = []
        self._lock = threading.Lock()
        self._hellos: dict[str, Hello] = {}
        self._states: dict[str, ReportedState] = {}
        self._online: dict[str, bool] = {}
        self._send_hooks: list[Callable[[str, int], None]] = []

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> DeviceHub:
        for channel in _REPORTS:
            self.link.subscribe(topics.all_devices(channel), self._on_report, shared=True)
        self.link.subscribe(topics.all_devices("transfer/request"), self._on_transfer_request, shared=True)
        # acks go to the replica serving that transfer, whichever it is: every replica hears them
        self.link.subscribe(topics.all_devices("transfer/ack"), self._on_transfer_ack)
        self.link.start(timeout)
        if self.share_group is not None:
            self.reread_retained()
        return self

    def reread_retained(self) -> int:
        """With a share group: read every device's retained hello, state and presence once (they are
        reports like any other, queued and handed to the callbacks); without one, a no-op (the normal
        subscriptions got them on connect). Returns how many arrived."""
        if self.share_group is None:
            return 0
        return self.link.reread_retained([topics.all_devices(c) for c in RETAINED_CHANNELS])

    def stop(self) -> None:
        self.link.stop()
        self.sender.close()

    def __enter__(self) -> DeviceHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what the reconciler calls ----------------------------------------------------------
    def on_report(self, callback: Callable[[DeviceReport], None]) -> None:
        """Call `callback` on paho's network thread for every report; keep it short."""
        self._callbacks.append(callback)

    def on_rejected(self, callback: Rejected) -> None:
        """Call `callback(device_id, channel, reason)` when a message is dropped unread (too large, or
        from a device id that is not enrolled); at most once per device id per interval, on paho's
        network thread: keep it short."""
        self._rejected_callbacks.append(callback)

    def on_send(self, callback: Callable[[str, int], None]) -> None:
        """Call `callback(topic, bytes)` for every artifact-transfer message published (offers, chunks
        with their headers), on the sending thread; keep it short."""
        self._send_hooks.append(callback)

    def set_desired(self, device_id: str, desired: DesiredState, timeout: float = 10.0) -> None:
        """Publish retained; returns once the broker has it (a device online or not)."""
        if desired.deviceId != device_id:
            raise ValueError(f"desired state for {desired.deviceId} published to {device_id}")
        self.link.publish_and_wait(topics.desired_topic(device_id), encode(desired), retain=True, timeout=timeout)

    def announce_keys(self, announcement: KeyAnnouncement, timeout: float = 10.0) -> None:
        """Publish the key endorsements retained on `origami/v1/keys` (after each start: a rotation
        made while the controller was stopped reaches the devices)."""
        self.link.publish_and_wait(topics.keys_topic(), encode(announcement), retain=True, timeout=timeout)

    def clear_desired(self, device_id: str, timeout: float = 10.0) -> None:
        """Remove the retained desired state (a device leaving the fleet)."""
        self.link.publish_and_wait(topics.desired_topic(device_id), b"", retain=True, timeout=timeout)

    def connected(self) -> bool:
        """Whether the hub's MQTT connection is up now."""
        return self.link.connected.is_set()

    def hellos(self) -> dict[str, Hello]:
        with self._lock:
            return dict(self._hellos)

    def states(self) -> dict[str, ReportedState]:
        with self._lock:
            return dict(self._states)

    def online(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._online)

    # --- network thread ---------------------------------------------------------------------
    def _send(self, topic: str, payload: bytes) -> None:
        self.link.publish(topic, payload, qos=1)
        for hook in self._send_hooks:
            hook(topic, len(payload))

    def _admitted(self, device_id: str, channel: str, payload: bytes) -> bool:
        """Size first (nothing parsed yet), then enrollment."""
        limit = MAX_PAYLOAD_BYTES.get(channel, 64 * 1024)
        if len(payload) > limit:
            reason = f"TooLarge: {len(payload)} bytes on {channel}, at most {limit}"
        elif self._enrolled is not None and not self._enrolled(device_id):
            reason = "NotEnrolled: no credentials for this device id in the broker registry"
        else:
            return True
        self._reject(device_id, channel, reason)
        return False

    def _reject(self, device_id: str, channel: str, reason: str) -> None:
        if self._rejections.admit(device_id):
            log.warning("device message refused", extra={"device": device_id, "channel": channel, "reason": reason})
            for callback in self._rejected_callbacks:
                callback(device_id, channel, reason)

    def _on_report(self, topic: str, payload: bytes) -> None:
        ref = topics.parse(topic)
        if ref is None or ref.channel not in _REPORTS or not payload:
            return
        if not self._admitted(ref.device_id, ref.channel, payload):
            return
        try:
            message = decode(_REPORTS[ref.channel], payload)
        except ValidationError as err:
            log.warning("malformed report", extra={"device": ref.device_id, "channel": ref.channel,
                                                   "error": str(err)[:300]})
            self._reject(ref.device_id, ref.channel, _validation_summary(err))
            return
        if getattr(message, "deviceId", ref.device_id) != ref.device_id:
            log.warning("report names another device", extra={"device": ref.device_id, "channel": ref.channel})
            self._reject(ref.device_id, ref.channel, "the message names another device")
            return
        with self._lock:
            if isinstance(message, Hello):
                self._hellos[ref.device_id] = message
            elif isinstance(message, ReportedState):
                self._states[ref.device_id] = message
            elif isinstance(message, Presence):
                self._online[ref.device_id] = message.online
        report = DeviceReport(ref.device_id, ref.channel, message)
        if self._queue_reports:
            self.reports.put(report)
        for callback in self._callbacks:
            callback(report)

    def _on_transfer_request(self, topic: str, payload: bytes) -> None:
        got = self._transfer_message(topic, payload, TransferRequest)
        if got is not None:
            self.sender.on_request(*got)

    def _on_transfer_ack(self, topic: str, payload: bytes) -> None:
        got = self._transfer_message(topic, payload, ChunkAck)
        if got is not None:
            self.sender.on_ack(*got)

    def _transfer_message(self, topic: str, payload: bytes, model: type[M]) -> tuple[str, M] | None:
        """(device id, message) of an admitted, well-formed transfer message; None otherwise (logged)."""
        ref = topics.parse(topic)
        if ref is None or not self._admitted(ref.device_id, ref.channel, payload):
            return None
        try:
            return ref.device_id, decode(model, payload)
        except ValidationError as err:
            log.warning("malformed transfer message", extra={"device": ref.device_id, "channel": ref.channel,
                                                              "error": _validation_summary(err)})
            return None


def _validation_summary(err: ValidationError) -> str:
    """Which fields were wrong, never the values a device sent (they may be huge or hostile)."""
    fields = sorted({".".join(str(p) for p in e["loc"]) or "(message)" for e in err.errors()})
    return f"malformed message: {len(err.errors())} error(s) in {', '.join(fields[:5])}"[:300]
