"""Many lightweight simulated devices on one MQTT connection, for scale tests and benches.

A `Swarm` hosts thousands of devices in one process and one connection (wildcard subscriptions on
`origami/v1/devices/+/...`), speaking protocol v1 like the Linux agent: hello, presence and state
retained; every desired state through the agent's own checks (`device.trust.DesiredGuard`: signature
over the whole message by a trusted key, device id, board, sequence); the artifact over HTTP by its
signed URL (`device.http_fetch`, Range and resume) or in chunks (`device.download.ChunkReceiver`);
size and sha256 checked against the signed manifest (`wire.manifests.verify_artifact`) before the
device counts it as installed. What is simulated: the slots and the health check (no LiteRT: a
verified artifact is "installed" and healthy) and the disk (the applied sequence is kept in memory).

paho's network thread only queues; one worker thread handles every device's messages in order.
Several swarms (processes) may share a broker: each uses its own client id and device-id prefix.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.download import ChunkReceiver
from device.http_fetch import HttpFetchError
from device.http_fetch import fetch_range
from device.trust import DesiredGuard
from device.trust import Keyring
from device.trust import WarningLimiter
from specs.errors import DesiredRejected
from specs.errors import OrigamiError
from specs.v1alpha1.protocol import Capabilities
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import TransferRequest
from specs.v1alpha1.protocol import UpdateResult
from specs.v1alpha1.protocol import decode_chunk
from specs.v1alpha1.protocol import encode
from wire import topics
from wire.logs import get_logger
from wire.manifests import verify_artifact
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink

log = get_logger("swarm")

AGENT = "swarm"


class _MemoryGuard(DesiredGuard):
    """The agent's checks; the last applied sequence lives in memory (a simulated disk)."""

    def applied(self, desired: DesiredState) -> None:
        self.last_sequence = max(self.last_sequence, desired.sequence)


@dataclass
class SimulatedDevice:
    device_id: str
    capabilities: Capabilities
    guard: DesiredGuard
    labels: dict[str, str]
    running: Manifest | None = None
    generation: int = -1
    last_update: UpdateResult | None = None
    download: tuple[DesiredState, ChunkReceiver] | None = None
    installs: int = 0                     # how many times an artifact was installed (a rollout counts 1 each)

    def state(self) -> ReportedState:
        m = self.running
        return ReportedState(deviceId=self.device_id, firmwareVersion=AGENT, activeSlot="a" if m else None,
                             modelVersion=m.version if m else None, modelDigest=m.digest if m else None,
                             health="ok" if m else "unknown", observedGeneration=self.generation,
                             lastUpdate=self.last_update)


class Swarm:
    """`count` devices named `{prefix}-{i:06d}`, boards taken in turn from `boards`."""

    def __init__(self, url: str | BrokerConnection, public_key: Ed25519PublicKey, root: Path, count: int, *,
                 prefix: str = "sim", boards: tuple[str, ...] = ("rpi4",), labels: dict[str, str] | None = None,
                 http: bool = True, client_id: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keyring = Keyring(self.root, public_key)   # one controller, one trust chain for the whole swarm
        self.http = http
        self.devices: dict[str, SimulatedDevice] = {}
        for i in range(count):
            device_id = f"{prefix}-{i:06d}"
            board = boards[i % len(boards)]
            caps = Capabilities(family="linux", board=board, profile=board, arch="aarch64", runtimes=["litert"],
                                transports=["wifi"], freeBytes=10**9)
            guard = _MemoryGuard(self.root / "none", device_id, lambda b=board: b, self.keyring)
            self.devices[device_id] = SimulatedDevice(device_id, caps, guard, dict(labels or {}))
        self._warnings = WarningLimiter()
        self._inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.link = MqttLink(client_id or f"origami-swarm-{prefix}", url, on_connected=self._announce_all)
        for channel in ("desired", "transfer/offer", "transfer/chunk"):
            self.link.subscribe(topics.all_devices(channel), self._enqueue(channel))
        self.link.subscribe(topics.keys_topic(), self._enqueue("keys"))
        self.updated = threading.Condition()

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Swarm:
        self._worker = threading.Thread(target=self._run, name="swarm", daemon=True)
        self._worker.start()
        self.link.start(timeout)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(10)
        self.link.stop()

    def installed(self, digest: str) -> int:
        """How many devices run `digest` now."""
        return sum(1 for d in self.devices.values() if d.running is not None and d.running.digest == digest)

    # --- network thread: only queue ---------------------------------------------------------
    def _enqueue(self, channel: str):
        def handler(topic: str, payload: bytes) -> None:
            self._inbox.put((channel, topic, payload))
        return handler

    def _announce_all(self, link: MqttLink) -> None:
        """On (re)connect: presence, hello and state of every device, retained (few, large messages
        would be better; these are what real devices send)."""
        for device in self.devices.values():
            link.publish(topics.presence_topic(device.device_id),
                         encode(Presence(deviceId=device.device_id, online=True)), retain=True)
            link.publish(topics.hello_topic(device.device_id), encode(Hello(
                deviceId=device.device_id, agent=AGENT, agentVersion="1", capabilities=device.capabilities,
                labels=device.labels, publicKeyId=self.keyring.newest)), retain=True)
            link.publish(topics.state_topic(device.device_id), encode(device.state()), retain=True)

    # --- worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                channel, topic, payload = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._handle(channel, topic, payload)
            except Exception:  # one device's bad message never stops the others
                log.exception("swarm step failed", extra={"channel": channel})

    def _handle(self, channel: str, topic: str, payload: bytes) -> None:
        if channel == "keys":
            if payload:
                try:
                    self.keyring.learn(payload)
                except DesiredRejected as err:
                    log.warning("key announcement refused", extra={"reason": err.reason})
            return
        ref = topics.parse(topic)
        device = self.devices.get(ref.device_id) if ref is not None else None
        if device is None or not payload:
            return
        if channel == "desired":
            self._on_desired(device, payload)
        elif channel == "transfer/chunk":
            self._on_chunk(device, payload)

    def _on_desired(self, device: SimulatedDevice, payload: bytes) -> None:
        try:
            desired = device.guard.check(payload)
        except DesiredRejected as err:
            if self._warnings.admit(f"{device.device_id}:{err.reason}"):
                self.link.publish(topics.events_topic(device.device_id), encode(Event(
                    deviceId=device.device_id, type="Warning", reason=err.reason, message=str(err)[:300])))
            return
        device.guard.applied(desired)
        device.generation = desired.generation
        manifest = desired.artifact.manifest if desired.artifact else None
        if manifest is None or (device.running is not None and device.running.digest == manifest.digest):
            self._report(device)
            return
        receiver = ChunkReceiver(self.root / "downloads" / device.device_id, manifest.digest, manifest.size,
                                 desired.chunkSize)
        device.download = (desired, receiver)
        if desired.artifactUrl and self.http:
            try:
                fetch_range(desired.artifactUrl, receiver.part, receiver.size)
                receiver.finish()
            except HttpFetchError as err:
                log.warning("http download failed; chunks instead", extra={"device": device.device_id,
                                                                           "error": str(err)})
                receiver = ChunkReceiver(receiver.directory, manifest.digest, manifest.size, desired.chunkSize)
                device.download = (desired, receiver)
            except OrigamiError as err:  # the whole digest does not match: tampered
                self._refuse(device, desired, str(err))
                return
        if receiver.complete:
            self._install(device)
            return
        self.link.publish(topics.transfer_request_topic(device.device_id), encode(TransferRequest(
            digest=manifest.digest, offset=receiver.offset, chunkSize=desired.chunkSize)))

    def _on_chunk(self, device: SimulatedDevice, payload: bytes) -> None:
        if device.download is None:
            return
        desired, receiver = device.download
        try:
            chunk = decode_chunk(payload)
            ack = receiver.accept(chunk)
        except ValueError:
            return
        except OrigamiError as err:
            self._refuse(device, desired, str(err))
            return
        self.link.publish(topics.transfer_ack_topic(device.device_id), encode(ack), qos=0)
        if receiver.complete:
            self._install(device)

    def _install(self, device: SimulatedDevice) -> None:
        desired, receiver = device.download
        manifest = desired.artifact.manifest
        device.download = None
        try:
            verify_artifact(manifest, receiver.final)   # the signed size and sha256, on the bytes "installed"
        except OrigamiError as err:
            receiver.discard()
            self._refuse(device, desired, str(err))
            return
        receiver.discard()
        device.running, device.installs = manifest, device.installs + 1
        device.last_update = UpdateResult(digest=manifest.digest, version=manifest.version, outcome="installed",
                                          bytesReceived=manifest.size)
        self.link.publish(topics.events_topic(device.device_id), encode(Event(
            deviceId=device.device_id, reason="Installed", digest=manifest.digest,
            message=f"{manifest.name}@{manifest.version}")))
        self._report(device)

    def _refuse(self, device: SimulatedDevice, desired: DesiredState, reason: str) -> None:
        manifest = desired.artifact.manifest
        device.download = None
        device.last_update = UpdateResult(digest=manifest.digest, version=manifest.version, outcome="rejected",
                                          reason=reason[:1024])
        self.link.publish(topics.events_topic(device.device_id), encode(Event(
            deviceId=device.device_id, type="Warning", reason="DigestMismatch", message=reason[:300],
            digest=manifest.digest)))
        self._report(device)

    def _report(self, device: SimulatedDevice) -> None:
        self.link.publish(topics.state_topic(device.device_id), encode(device.state()), retain=True)
        with self.updated:
            self.updated.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        """Wait until `predicate(self)` holds (checked after each report); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.updated:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.updated.wait(min(left, 0.5))
        return True
