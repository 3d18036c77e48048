"""The gateway's MQTT side: protocol v1 on behalf of the boards on its serial ports (docs/serial.md,
docs/protocol.md).

Towards MQTT the gateway publishes each board's hello and state (retained), events and samples; it
follows the board's desired state, downloads the signed artifact in chunks and forwards manifest and
bytes over serial. The gateway runs the device checks on the board's behalf (`device.trust`: the
signature over the whole desired state, device id, board, sequence), so a replayed, forged or
misdirected desired state never reaches the serial line; the board itself verifies the manifest's
signature and the digest again: the gateway never installs anything.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from device.gateway.campaigns import BoardCampaigns
from device.gateway.serial_link import BoardLink
from device.gateway.serial_link import drain
from device.gateway.usb import match_usb
from device.serial_frames import DEFAULT_CHUNK
from device.serial_frames import Frame
from device.serial_frames import FrameType
from device.serial_frames import signed_manifest_payload
from device.trust import DesiredGuard
from device.trust import Keyring
from device.trust import WarningLimiter
from specs.errors import DesiredRejected
from specs.errors import DeviceError
from specs.v1alpha1.device_profile import DeviceProfile
from wire.logs import get_logger

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from wire.mqtt import BrokerConnection

log = get_logger("gateway.bridge")

DOWNLOAD_TIMEOUT_S = 30.0    # silence between two artifact chunks before the download is abandoned
# A failed update (download stalled or refused, serial link error) is tried again with the same desired
# state after RETRY_S, doubling, UPDATE_ATTEMPTS times in all, unless a newer desired state arrives first:
# a transient fault must not leave a board behind until the next commit.
UPDATE_ATTEMPTS = 5
RETRY_S = 5.0


def _capabilities(hello: dict, profile: DeviceProfile | None, usb: str | None, transport: str = "usb-serial"):
    from specs.v1alpha1.protocol import Accelerator
    from specs.v1alpha1.protocol import Capabilities

    spec = profile.spec if profile else None
    return Capabilities(
        family="mcu", board=hello.get("board") or (spec.board if spec else ""),
        profile=profile.metadata.name if profile else hello.get("profile"),
        arch=hello.get("cpu") or (spec.cpu if spec else ""), cores=spec.cores if spec else 1,
        ramBytes=int(hello.get("ram") or (spec.ram if spec else 0)),
        flashBytes=int(hello.get("flash") or (spec.flash if spec else 0)),
        runtimes=[hello.get("runtime", "tflm")],
        accelerators=[Accelerator(kind=a) for a in (spec.accelerators if spec else [])],
        transports=[transport], usb=usb or hello.get("usb"))


class AttachedBoard:
    """One attached board: its serial link, what it said, and the desired state it follows."""

    def __init__(self, gateway: Gateway, link: BoardLink, hello: dict, state: dict, profile: DeviceProfile | None,
                 usb: str | None) -> None:
        self.gateway = gateway
        self.link = link
        self.hello = hello
        self.state = state
        self.profile = profile
        self.usb = usb
        self.device_id: str = hello["deviceId"]
        self.guard = DesiredGuard(gateway.spool / "trust" / self.device_id, self.device_id,
                                  lambda: _capabilities(self.hello, self.profile, self.usb, link.transport).board_class,
                                  gateway.keyring)
        self.warnings = WarningLimiter()
        self.campaigns = BoardCampaigns(self.device_id, gateway.spool)
        self.observed_generation = -1
        self.desired: queue.Queue = queue.Queue()
        self.offers: queue.Queue = queue.Queue()
        self.chunks: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._follow, name=f"gateway-{self.device_id}", daemon=True)

    # Serial frames the board sends on its own (state changes, events, samples) go to MQTT.
    def on_frame(self, frame: Frame) -> None:
        if frame.type is FrameType.STATE:
            self.state = frame.json()
            self.gateway.publish_state(self)
        elif frame.type is FrameType.EVENT:
            self.gateway.publish_event(self, frame.json())
        elif frame.type is FrameType.SAMPLES:
            self.gateway.publish_samples(self, frame.json())

    def _follow(self) -> None:
        retry = None     # (desired, attempts so far, when to try again) after a failed update
        while True:
            try:
                payloads = [self.desired.get(timeout=None if retry is None else max(0.0, retry[2] - time.monotonic()))]
            except queue.Empty:
                payloads = []
            while not self.desired.empty():  # only the newest desired state that passes its checks matters
                payloads.append(self.desired.get())
            if None in payloads:
                return
            desired, attempt = None, 1
            for payload in payloads:
                desired = self._checked(payload) or desired
            if desired is None:
                if retry is None or time.monotonic() < retry[2]:
                    continue
                desired, attempt = retry[0], retry[1] + 1
            retry = None
            try:
                self.gateway.converge(self, desired)
            except DeviceError as err:
                again = attempt < UPDATE_ATTEMPTS
                delay = self.gateway.retry_seconds * 2 ** (attempt - 1)
                log.warning("update failed", extra={"device": self.device_id, "error": str(err), "attempt": attempt,
                                                    "retry_in_s": delay if again else None})
                self.gateway.publish_event(self, {
                    "type": "Warning", "reason": "UpdateFailed",
                    "message": f"{err} (attempt {attempt} of {UPDATE_ATTEMPTS}"
                               + (f", again in {delay:g} s)" if again else ", giving up until the next desired state)"),
                    "digest": desired.artifact.manifest.digest if desired.artifact else None})
                if again:
                    retry = (desired, attempt, time.monotonic() + delay)

    def _checked(self, payload: bytes):
        """The desired state when it passes the device checks; None (and a rate-limited Warning) if not."""
        if not payload:
            return None
        try:
            desired = self.guard.check(payload)
        except DesiredRejected as err:
            log.warning("desired state ignored", extra={"device": self.device_id, "reason": err.reason,
                                                        "error": str(err)})
            if self.warnings.admit(err.reason):
                self.gateway.publish_event(self, {"type": "Warning", "reason": err.reason, "message": str(err)[:300]})
            return None
        self.guard.applied(desired)
        return desired


class Gateway:
    """Bridges boards on serial ports to MQTT protocol v1. `attach(port)` per board; `close()` at the end."""

    def __init__(self, gateway_id: str, broker_url: str | BrokerConnection, profiles: dict[str, DeviceProfile], *,
                 spool: str | Path, public_key: Ed25519PublicKey, username: str | None = None,
                 password: str | None = None, chunk_size: int = DEFAULT_CHUNK,
                 heartbeat_seconds: float = 60.0, retry_seconds: float = RETRY_S) -> None:
        from specs.v1alpha1.protocol import Presence
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import keys_topic
        from specs.v1alpha1.protocol import presence_topic
        from wire.mqtt import MqttLink
        from wire.mqtt import Will

        self.gateway_id = gateway_id
        self.profiles = profiles
        self.chunk_size = chunk_size
        self.retry_seconds = retry_seconds
        self.spool = Path(spool)
        self.keyring = Keyring(self.spool / "trust", public_key)   # one for every board it carries
        self._key_warnings = WarningLimiter()
        self.boards: dict[str, AttachedBoard] = {}
        will = Will(presence_topic(gateway_id), encode(Presence(deviceId=gateway_id, online=False)))
        self.mqtt = MqttLink(f"gateway-{gateway_id}", broker_url, username=username, password=password, will=will)
        self.mqtt.subscribe(keys_topic(), self._on_keys)
        self.mqtt.start()
        self.mqtt.publish(presence_topic(gateway_id), encode(Presence(deviceId=gateway_id, online=True)), retain=True)
        self._closing = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, args=(heartbeat_seconds,), name="gateway-heartbeat",
                                           daemon=True)
        self._heartbeat.start()

    def _beat(self, every: float) -> None:
        """Repeat presence for the gateway and each board whose port still reads; a board whose port
        failed is announced offline once (docs/protocol.md "Liveness")."""
        from specs.v1alpha1.protocol import Presence
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import presence_topic

        gone: set[str] = set()
        while not self._closing.wait(every):
            self.mqtt.publish(presence_topic(self.gateway_id), encode(Presence(deviceId=self.gateway_id, online=True)),
                              retain=True)
            for board in list(self.boards.values()):
                alive = board.link.alive
                if alive or board.device_id not in gone:
                    self.mqtt.publish(presence_topic(board.device_id),
                                      encode(Presence(deviceId=board.device_id, online=alive)), retain=True)
                if not alive:
                    gone.add(board.device_id)

    def _on_keys(self, topic: str, payload: bytes) -> None:
        """Key announcements: learn the keys endorsed by one already trusted (small and rare: inline)."""
        from specs.v1alpha1.protocol import Event
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import events_topic

        if not payload:
            return
        try:
            added = self.keyring.learn(payload)
        except DesiredRejected as err:
            log.warning("key announcement refused", extra={"gateway": self.gateway_id, "error": str(err)})
            if self._key_warnings.admit(err.reason):
                self.mqtt.publish(events_topic(self.gateway_id), encode(Event(
                    deviceId=self.gateway_id, type="Warning", reason=err.reason, message=str(err)[:300])))
            return
        if added:
            log.info("trusting new controller keys", extra={"gateway": self.gateway_id, "keys": added})

    def attach(self, port: str, *, usb: str | None = None, profile: str | None = None,
               baudrate: int = 115200) -> str:
        """Open the board's port, identify it, announce it on MQTT and follow its desired state; its id."""
        return self.attach_link(BoardLink(port, baudrate=baudrate), usb=usb, profile=profile)

    def attach_link(self, link: BoardLink, *, usb: str | None = None, profile: str | None = None) -> str:
        """`attach` for a link already open on any byte stream (a serial port, a BLE board's GATT stream)."""
        from specs.v1alpha1.collection import collect_topic
        from specs.v1alpha1.protocol import desired_topic
        from specs.v1alpha1.protocol import transfer_chunk_topic
        from specs.v1alpha1.protocol import transfer_offer_topic

        hello, state = link.query()
        name = profile or hello.get("profile")
        matched = self.profiles.get(name) if name else None
        if profile is None and usb:
            by_usb = self.profiles.get(match_usb(*(int(x, 16) for x in usb.split(":")), self.profiles) or "")
            matched = by_usb or matched
        board = AttachedBoard(self, link, hello, state, matched, usb)
        link.on_frame = board.on_frame
        self.boards[board.device_id] = board
        self.publish_hello(board)
        self.publish_state(board)
        from specs.v1alpha1.protocol import OFFER_REPLY
        from specs.v1alpha1.protocol import decode_chunk

        self.mqtt.subscribe(transfer_offer_topic(board.device_id),
                            lambda t, p: board.offers.put(OFFER_REPLY.validate_json(p)))
        self.mqtt.subscribe(transfer_chunk_topic(board.device_id), lambda t, p: board.chunks.put(decode_chunk(p)))
        board.worker.start()
        self.mqtt.subscribe(desired_topic(board.device_id), lambda t, p: board.desired.put(p))
        self.mqtt.subscribe(collect_topic(board.device_id), lambda t, p: board.campaigns.on_request(p))
        log.info("board attached", extra={"device": board.device_id, "port": link.name,
                                          "profile": matched.metadata.name if matched else None, "usb": usb})
        return board.device_id

    def reattach(self, device_id: str, port: str, *, baudrate: int = 115200) -> None:
        """The board's port changed (an emulated board restarted on a new firmware image): reopen it,
        identify the board again and republish its hello and state; its desired state still applies."""
        board = self.boards[device_id]
        board.link.close()
        link = BoardLink(port, baudrate=baudrate)
        board.hello, board.state = link.query()
        link.on_frame = board.on_frame
        board.link = link
        self.publish_hello(board)
        self.publish_state(board)
        log.info("board reattached", extra={"device": device_id, "port": port})

    def close(self) -> None:
        from specs.v1alpha1.protocol import Presence
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import presence_topic

        self._closing.set()
        self._heartbeat.join(timeout=5)
        for board in self.boards.values():
            board.desired.put(None)
            board.worker.join(timeout=5)
            self.mqtt.publish_and_wait(presence_topic(board.device_id),
                                       encode(Presence(deviceId=board.device_id, online=False)), retain=True)
            board.link.close()
        self.mqtt.publish_and_wait(presence_topic(self.gateway_id),
                                   encode(Presence(deviceId=self.gateway_id, online=False)), retain=True)
        self.mqtt.stop()

    # --- publishing on the board's behalf ---------------------------------------------------

    def publish_hello(self, board: AttachedBoard) -> None:
        from specs.v1alpha1.protocol import Hello
        from specs.v1alpha1.protocol import Presence
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import hello_topic
        from specs.v1alpha1.protocol import presence_topic

        hello = Hello(deviceId=board.device_id, agent="gateway", agentVersion=board.hello.get("firmwareVersion", ""),
                      capabilities=_capabilities(board.hello, board.profile, board.usb, board.link.transport),
                      gateway=self.gateway_id,
                      publicKeyId=self.keyring.newest)
        self.mqtt.publish_and_wait(hello_topic(board.device_id), encode(hello), retain=True)
        self.mqtt.publish(presence_topic(board.device_id), encode(Presence(deviceId=board.device_id, online=True)),
                          retain=True)

    def publish_state(self, board: AttachedBoard) -> None:
        from specs.v1alpha1.protocol import ReportedState
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import state_topic

        s = board.state
        slots = [slot for slot in s.get("slots", []) if slot.get("name") in ("a", "b")]
        state = ReportedState(
            deviceId=board.device_id, firmwareVersion=board.hello.get("firmwareVersion", ""),
            activeSlot=s.get("activeSlot"), slots=slots, modelVersion=s.get("modelVersion"),
            modelDigest=s.get("modelDigest"), health=s.get("health", "unknown"), healthReason=s.get("healthReason", ""),
            observedGeneration=board.observed_generation, lastUpdate=s.get("lastUpdate"))
        self.mqtt.publish_and_wait(state_topic(board.device_id), encode(state), retain=True)

    def publish_event(self, board: AttachedBoard, body: dict) -> None:
        from specs.v1alpha1.protocol import Event
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import events_topic

        event = Event(deviceId=board.device_id, type=body.get("type", "Normal"), reason=body.get("reason") or "Event",
                      message=str(body.get("message", ""))[:1024], digest=body.get("digest"))
        self.mqtt.publish(events_topic(board.device_id), encode(event))

    def publish_samples(self, board: AttachedBoard, body: dict) -> None:
        """A SAMPLES frame as a `Sample` (JSON values or int16 PCM: device/sample_frames.py); an invalid
        one is not forwarded, the board's events topic says why."""
        from device.sample_frames import sample_of
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import samples_topic

        try:
            sample = sample_of(board.device_id, body)
        except DeviceError as err:
            log.warning("sensor window refused", extra={"device": board.device_id, "error": str(err)})
            self.publish_event(board, {"type": "Warning", "reason": "SampleRejected", "message": str(err)})
            return
        self.mqtt.publish(samples_topic(board.device_id), encode(board.campaigns.tag(sample)))

    # --- converging on the desired state -------------------------------------------------------

    def converge(self, board: AttachedBoard, desired) -> None:
        last = board.state.get("lastUpdate") or {}
        if desired.artifact is not None and desired.generation == board.observed_generation and \
                last.get("digest") == desired.artifact.manifest.digest:
            return  # already applied (a republish after a controller restart): never install twice
        if desired.artifact is None or desired.artifact.manifest.digest == board.state.get("modelDigest"):
            board.observed_generation = desired.generation
            self.publish_state(board)
            return
        manifest = desired.artifact.manifest
        data = self._download(board, manifest.digest, manifest.size, desired.chunkSize)
        outcome = board.link.send_model(signed_manifest_payload(desired.artifact), data, chunk_size=self.chunk_size)
        log.info("board update finished", extra={"device": board.device_id, "outcome": outcome.status.name,
                                                 "bytes_sent": outcome.bytes_sent, "resends": outcome.resends})
        _, board.state = board.link.query()
        board.observed_generation = desired.generation
        self.publish_state(board)

    def _download(self, board: AttachedBoard, digest: str, size: int, chunk_size: int) -> bytes:
        """Fetch an artifact over MQTT into the spool (request, offer, chunks, acks), resumable on disk."""
        from device.download import ChunkReceiver
        from specs.v1alpha1.protocol import TransferRequest
        from specs.v1alpha1.protocol import encode
        from specs.v1alpha1.protocol import transfer_ack_topic
        from specs.v1alpha1.protocol import transfer_request_topic

        drain(board.offers)
        drain(board.chunks)
        receiver = ChunkReceiver(self.spool / board.device_id, digest, size, chunk_size)
        stalls = 0
        while not receiver.complete:
            if stalls > 2:
                raise DeviceError(f"artifact {digest[:12]}... stalled at {receiver.offset}/{size} B")
            # (Re)start from the last verified offset: at most one chunk crosses the link twice.
            self.mqtt.publish(transfer_request_topic(board.device_id),
                              encode(TransferRequest(digest=digest, offset=receiver.offset, chunkSize=chunk_size)))
            try:
                offer = board.offers.get(timeout=DOWNLOAD_TIMEOUT_S)
            except queue.Empty:
                stalls += 1
                continue
            if offer.kind == "refused":
                raise DeviceError(f"the controller refused to send {digest[:12]}...: {offer.reason}")
            while not receiver.complete:
                try:
                    chunk = board.chunks.get(timeout=DOWNLOAD_TIMEOUT_S)
                except queue.Empty:
                    stalls += 1
                    break
                ack = receiver.accept(chunk)
                self.mqtt.publish(transfer_ack_topic(board.device_id), encode(ack))
        data = receiver.final.read_bytes()
        receiver.discard()  # the board keeps the installed copy; the gateway only relays
        return data
