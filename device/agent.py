"""The device agent for Linux boards (`origami agent`).

It says hello (capabilities, retained), reports its state (retained) and keeps a last will for
offline detection. Every desired state is checked first (`device.trust.DesiredGuard`: signature
over the whole message, device id, board, sequence); one that fails is ignored with a Warning event
and changes nothing. When a checked desired state names another artifact the agent downloads it
in chunks (resuming from the last verified offset after a cut), checks size and sha256 against
the signed manifest, installs into the inactive slot, runs a health check, then confirms, or
rolls back to the previous slot and reports why. Nothing unverified is ever installed.

paho's network thread only queues messages; one worker thread does everything else, in order.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.download import ChunkReceiver
from device.health import HealthResult
from device.health import litert_probe
from device.http_fetch import HttpFetchError
from device.http_fetch import fetch_range
from device.slots import Slots
from device.trust import DesiredGuard
from device.trust import Keyring
from device.trust import WarningLimiter
from specs.errors import DesiredRejected
from specs.errors import DeviceError
from specs.errors import SignatureError
from specs.v1alpha1.protocol import OFFER_REPLY
from specs.v1alpha1.protocol import Capabilities
from specs.v1alpha1.protocol import ChunkAck
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import TransferRefused
from specs.v1alpha1.protocol import TransferRequest
from specs.v1alpha1.protocol import UpdateResult
from specs.v1alpha1.protocol import decode_chunk
from specs.v1alpha1.protocol import encode
from wire import __version__
from wire import topics
from wire.logs import get_logger
from wire.manifests import verify_artifact
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink
from wire.mqtt import TlsOptions
from wire.mqtt import Will

T = TypeVar("T")

log = get_logger("agent")

HealthCheck = Callable[[Path, DesiredState], HealthResult]
ChunkFilter = Callable[[bytes], "bytes | None"]


def default_health_check(model: Path, desired: DesiredState) -> HealthResult:
    return litert_probe(model, desired.maxLatencyMs)


@dataclass
class AgentConfig:
    device_id: str
    url: str | BrokerConnection                 # a connection, or a URL (user info allowed)
    state_dir: Path
    public_key: Ed25519PublicKey               # the controller key provisioned; later ones are learnt
    capabilities: Callable[[], Capabilities]
    username: str | None = None
    password: str | None = None
    tls: TlsOptions | None = None
    labels: dict[str, str] = field(default_factory=dict)
    agent: str = "linux-agent"
    health_check: HealthCheck = default_health_check
    chunk_filter: ChunkFilter | None = None     # fault injection for virtual boards: alter or drop a chunk
    retry_seconds: float = 5.0                  # ask again from the last good offset after this silence
    supported_runtimes: tuple[str, ...] = ("litert",)
    heartbeat_seconds: float = 60.0             # presence is repeated this often (docs/protocol.md "Liveness")
    http: bool = True                           # fetch by the signed URL when a desired state names one
    http_attempts: int = 3                      # HTTP tries (each resuming) before falling back to MQTT chunks
    http_timeout: float = 30.0


@dataclass
class _Download:
    desired: DesiredState
    manifest: Manifest
    receiver: ChunkReceiver
    last_activity: float = field(default_factory=time.monotonic)


class DeviceAgent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.device_id = config.device_id
        self.slots = Slots(Path(config.state_dir) / "slots")
        self.downloads = Path(config.state_dir) / "downloads"
        self._inbox: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._download: _Download | None = None
        self._desired: DesiredState | None = None
        # What was refused, keyed by what was signed: an operator retry (a new sequence) is tried again.
        self._refused: dict[tuple[int, str], UpdateResult] = {}
        self.keyring = Keyring(self.slots.root, config.public_key)
        self.guard = DesiredGuard(self.slots.root, self.device_id, lambda: config.capabilities().board_class,
                                  self.keyring)
        self._warnings = WarningLimiter()
        self.last_update: UpdateResult | None = None
        self.health = "unknown"
        self.health_reason = ""
        self.updated = threading.Condition()          # notified after each state report (tests, simulate)
        will = Will(topics.presence_topic(self.device_id), encode(Presence(deviceId=self.device_id, online=False)))
        self.link = MqttLink(f"origami-{self.device_id}", config.url, username=config.username,
                             password=config.password, tls=config.tls, will=will, on_connected=self._announce)
        for channel in topics.DEVICE_READS:
            self.link.subscribe(topics.device_topic(self.device_id, channel), self._enqueue(channel))
        self.link.subscribe(topics.keys_topic(), self._enqueue("keys"))

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float | None = 10.0) -> DeviceAgent:
        record = self.slots.record()
        if record.trial:  # the agent died during a health check: that slot was never confirmed
            self.slots.roll_back()
            self.last_update = UpdateResult(digest="0" * 64, version="?", outcome="rolled-back",
                                            reason="agent restarted during a health check")
        self._set_health_from_slots()
        self._worker = threading.Thread(target=self._run, name=f"agent-{self.device_id}", daemon=True)
        self._worker.start()
        self.link.start(timeout)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._inbox.put(("stop", b"", 0))
        if self._worker is not None:
            self._worker.join(10)
        if self.link.connected.is_set():  # a clean stop sends no last will: say it ourselves
            try:
                self.link.publish_and_wait(topics.presence_topic(self.device_id),
                                           encode(Presence(deviceId=self.device_id, online=False)),
                                           retain=True, timeout=2)
            except DeviceError:
                log.warning("could not announce going offline", extra={"device": self.device_id})
        self.link.stop()

    # --- network thread: only queue ---------------------------------------------------------
    def _enqueue(self, channel: str):
        def handler(topic: str, payload: bytes) -> None:
            self._inbox.put((channel, payload, self.link.connections))
        return handler

    def _announce(self, link: MqttLink) -> None:
        """On every (re)connect: online, hello and state, all retained."""
        link.publish(topics.presence_topic(self.device_id), encode(Presence(deviceId=self.device_id, online=True)),
                     retain=True)
        link.publish(topics.hello_topic(self.device_id), encode(self.hello()), retain=True)
        link.publish(topics.state_topic(self.device_id), encode(self.reported_state()), retain=True)

    # --- reports ----------------------------------------------------------------------------
    def hello(self) -> Hello:
        return Hello(deviceId=self.device_id, agent=self.config.agent, agentVersion=__version__,
                     capabilities=self.config.capabilities(), labels=self.config.labels,
                     publicKeyId=self.keyring.newest)

    def reported_state(self) -> ReportedState:
        record = self.slots.record()
        active = self.slots.manifest(record.active)
        return ReportedState(
            deviceId=self.device_id, firmwareVersion=__version__, activeSlot=record.active,
            slots=self.slots.states(), modelVersion=active.version if active else None,
            modelDigest=active.digest if active else None, health=self.health, healthReason=self.health_reason,
            observedGeneration=self._desired.generation if self._desired else -1, lastUpdate=self.last_update)

    def _report(self, event: Event | None = None) -> None:
        if event is not None:
            self.link.publish(topics.events_topic(self.device_id), encode(event))
        self.link.publish(topics.state_topic(self.device_id), encode(self.reported_state()), retain=True)
        with self.updated:
            self.updated.notify_all()

    def _set_health_from_slots(self) -> None:
        if self.slots.record().active is None:
            self.health, self.health_reason = "unknown", "no model installed"
        elif self.health == "unknown":
            self.health, self.health_reason = "ok", ""

    # --- worker -----------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        """Repeat presence so that the controller can tell a quiet device from a vanished one."""
        if self.link.connected.is_set():
            self.link.publish(topics.presence_topic(self.device_id),
                              encode(Presence(deviceId=self.device_id, online=True)), retain=True)

    def _run(self) -> None:
        next_beat = time.monotonic() + self.config.heartbeat_seconds
        while not self._stop.is_set():
            if time.monotonic() >= next_beat:
                self._heartbeat()
                next_beat = time.monotonic() + self.config.heartbeat_seconds
            wait = min(self.config.retry_seconds / 2, max(0.0, next_beat - time.monotonic()))
            try:
                channel, payload, connection = self._inbox.get(timeout=wait)
            except queue.Empty:
                self._retry_if_stalled()
                continue
            try:
                if channel == "desired":
                    self._on_desired(payload)
                elif channel == "keys":
                    self._on_keys(payload)
                elif channel == "transfer/offer":
                    self._on_offer(payload)
                elif channel == "transfer/chunk":
                    self._on_chunk(payload, connection)
            except Exception:  # keep the agent alive; the state report says what failed
                log.exception("agent step failed", extra={"device": self.device_id, "channel": channel})
            self._retry_if_stalled()

    def _checked(self, check: Callable[[bytes], T], payload: bytes) -> T | None:
        """`check(payload)`, or None for an empty payload or one that fails its checks (ignored)."""
        if not payload:
            return None
        try:
            return check(payload)
        except DesiredRejected as err:
            self._ignore(err)
            return None

    def _on_desired(self, payload: bytes) -> None:
        desired = self._checked(self.guard.check, payload)
        if desired is None:
            return
        self.guard.applied(desired)
        self._desired = desired
        if desired.artifact is None:
            self._report()
            return
        manifest = desired.artifact.manifest
        active = self.slots.active_manifest()
        if active is not None and active.digest == manifest.digest:
            self._download = None
            self._report()
            return
        if (desired.sequence, manifest.digest) in self._refused:
            self._report()  # the same desired state again; lastUpdate still says why it was refused
            return
        if self._download is not None and self._download.manifest.digest == manifest.digest:
            self._download.desired = desired
            self._request(self._download)  # (re)connected mid-transfer: resume from the last good offset
            return
        if manifest.target.runtime not in self.config.supported_runtimes:
            self._refuse(desired, "rejected", f"artifact is for runtime '{manifest.target.runtime}'; this agent "
                         f"runs {', '.join(self.config.supported_runtimes)}", "TargetMismatch")
            return
        free = self.config.capabilities().freeBytes
        if free and manifest.size * 2 > free:  # the download and the slot copy
            self._refuse(desired, "rejected", f"artifact needs {manifest.size * 2} bytes of disk, "
                         f"{free} free", "InsufficientDisk", remember=False)
            return
        receiver = ChunkReceiver(self.downloads, manifest.digest, manifest.size, desired.chunkSize)
        self._download = _Download(desired, manifest, receiver)
        if not receiver.complete and desired.artifactUrl and self.config.http:
            self._fetch_http(self._download, desired.artifactUrl)
        if self._download is None:  # refused on the way
            return
        if self._download.receiver.complete:
            self._install(self._download)
        else:
            self._request(self._download)

    def _fetch_http(self, download: _Download, url: str) -> None:
        """Download by the signed URL with Range requests, each attempt resuming where the last one was
        cut; the whole sha256 is checked before the part is kept. A file that does not match is refused
        (DigestMismatch); a server that stays unreachable leaves the rest to the MQTT chunks."""
        receiver = download.receiver
        for attempt in range(self.config.http_attempts):
            try:
                receiver.received_bytes += fetch_range(url, receiver.part, receiver.size,
                                                       timeout=self.config.http_timeout)
                receiver.finish()
            except HttpFetchError as err:
                receiver.received_bytes += err.received
                log.warning("http download interrupted", extra={"device": self.device_id, "attempt": attempt + 1,
                                                                "error": str(err)})
                time.sleep(min(2.0, 0.2 * 2 ** attempt))
                continue
            except SignatureError as err:  # every byte arrived and the whole does not match: tampered
                self._download = None
                self._refuse(download.desired, "rejected", f"{err} (fetched over HTTP)", "DigestMismatch")
                return
            log.info("artifact fetched over http", extra={"device": self.device_id,
                                                          "digest": download.manifest.digest[:12]})
            return
        log.warning("http download failed; asking for MQTT chunks", extra={"device": self.device_id})
        # Chunks resume from a chunk boundary: the part is cut back to one (ChunkReceiver does that).
        download.receiver = ChunkReceiver(self.downloads, receiver.digest, receiver.size, receiver.chunk_size)
        download.receiver.received_bytes = receiver.received_bytes

    def _on_keys(self, payload: bytes) -> None:
        added = self._checked(self.keyring.learn, payload)
        if added:
            log.info("trusting new controller keys", extra={"device": self.device_id, "keys": added})
            self.link.publish(topics.hello_topic(self.device_id), encode(self.hello()), retain=True)

    def _ignore(self, err: DesiredRejected) -> None:
        """A message that failed its checks: logged, and a Warning event at most once a minute per
        reason; no state of the device changes."""
        log.warning("message ignored", extra={"device": self.device_id, "reason": err.reason, "error": str(err)})
        if self._warnings.admit(err.reason):
            self.link.publish(topics.events_topic(self.device_id),
                              encode(Event(deviceId=self.device_id, type="Warning", reason=err.reason,
                                           message=str(err)[:300])))

    def _request(self, download: _Download) -> None:
        download.last_activity = time.monotonic()
        request = TransferRequest(digest=download.manifest.digest, offset=download.receiver.offset,
                                  chunkSize=download.desired.chunkSize, have=download.receiver.held)
        log.info("requesting artifact", extra={"device": self.device_id, "digest": request.digest[:12],
                                               "offset": request.offset})
        self.link.publish(topics.transfer_request_topic(self.device_id), encode(request))

    def _retry_if_stalled(self) -> None:
        download = self._download
        if download is not None and time.monotonic() - download.last_activity > self.config.retry_seconds \
                and self.link.connected.is_set():
            self._request(download)

    def _on_offer(self, payload: bytes) -> None:
        reply = OFFER_REPLY.validate_json(payload)
        download = self._download
        if download is None or reply.digest != download.manifest.digest:
            return
        download.last_activity = time.monotonic()
        if isinstance(reply, TransferRefused):
            self._download = None
            self._refuse(download.desired, "failed", f"controller cannot send the artifact: {reply.reason}",
                         "TransferRefused", remember=False)

    def _on_chunk(self, payload: bytes, connection: int) -> None:
        if self.config.chunk_filter is not None:
            payload = self.config.chunk_filter(payload)
            if payload is None:
                return
        download = self._download
        try:
            chunk = decode_chunk(payload)
        except ValueError as err:
            log.warning("bad chunk", extra={"device": self.device_id, "error": str(err)})
            return
        if download is None or chunk.digest != download.manifest.digest:
            return
        download.last_activity = time.monotonic()
        try:
            ack = download.receiver.accept(chunk)
        except SignatureError as err:  # every chunk matched but the whole did not: a tampered artifact
            self._download = None
            # Tell the sender the transfer is over, then refuse the artifact.
            self._ack(ChunkAck(digest=chunk.digest, offset=chunk.offset, nextOffset=download.manifest.size,
                               ok=False, reason="whole artifact digest mismatch"), connection)
            self._refuse(download.desired, "rejected", str(err), "DigestMismatch")
            return
        self._ack(ack, connection)
        if download.receiver.complete:
            self._install(download)

    def _ack(self, ack: ChunkAck, connection: int) -> None:
        """Acks are QoS 0 and only for chunks of the current connection: an ack queued across a cut
        would make the controller stream on from its old position while the device asks to resume,
        and the chunks in between would cross twice. A lost ack costs one retry (`retry_seconds`)."""
        if connection == self.link.connections and self.link.connected.is_set():
            self.link.publish(topics.transfer_ack_topic(self.device_id), encode(ack), qos=0)

    def _install(self, download: _Download) -> None:
        self._download = None
        manifest, artifact = download.manifest, download.receiver.final
        try:
            verify_artifact(manifest, artifact)  # the signed size and sha256, on the bytes we will install
        except SignatureError as err:
            download.receiver.discard()
            self._refuse(download.desired, "rejected", str(err), "DigestMismatch")
            return
        slot = self.slots.install(manifest, artifact)
        download.receiver.discard()
        result = self.config.health_check(self.slots.model_path(slot), download.desired)
        if result.ok:
            self.slots.confirm()
            self.health, self.health_reason = "ok", ""
            self.last_update = UpdateResult(digest=manifest.digest, version=manifest.version, outcome="installed",
                                            bytesReceived=download.receiver.received_bytes)
            log.info("installed", extra={"device": self.device_id, "version": manifest.version, "slot": slot})
            self._report(Event(deviceId=self.device_id, reason="Installed", digest=manifest.digest,
                               message=f"{manifest.name}@{manifest.version} active in slot {slot}"))
            return
        previous = self.slots.roll_back()
        self.health = "ok" if previous else "failed"
        self.health_reason = "" if previous else f"no previous model to roll back to: {result.reason}"
        self._refuse(download.desired, "rolled-back", f"health check failed: {result.reason}; "
                     f"{'slot ' + previous + ' active again' if previous else 'nothing to roll back to'}",
                     "HealthCheckFailed", bytes_received=download.receiver.received_bytes)

    def _refuse(self, desired: DesiredState, outcome: str, reason: str, event_reason: str, *,
                remember: bool = True, bytes_received: int = 0) -> None:
        if desired.artifact is None:  # nothing to install was never refused
            return
        manifest = desired.artifact.manifest
        result = UpdateResult(digest=manifest.digest, version=manifest.version, outcome=outcome, reason=reason[:1024],
                              bytesReceived=bytes_received)
        if remember:
            self._refused[(desired.sequence, manifest.digest)] = result
        self.last_update = result
        log.warning("update not installed", extra={"device": self.device_id, "version": manifest.version,
                                                   "outcome": outcome, "reason": reason})
        self._report(Event(deviceId=self.device_id, type="Warning", reason=event_reason, message=reason[:1024],
                           digest=manifest.digest))

