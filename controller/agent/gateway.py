"""`origami gateway`: bridges microcontrollers on USB serial to MQTT (docs/serial.md, docs/protocol.md).

A board is identified by its USB VID:PID (pyserial's port list, matched to the DeviceProfile
catalogue) or by the hello it sends when queried. Towards MQTT the gateway speaks protocol v1
on the board's behalf: hello and state (retained), events, samples; it follows the board's
desired state, downloads the signed artifact in chunks and forwards manifest and bytes over
serial. The board itself verifies signature and digest: the gateway never installs anything.
Flashing a full firmware runs the board's `flasher` command from its DeviceProfile.
"""
from __future__ import annotations

import queue
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import serial
from serial.tools import list_ports

from controller.agent.serial_frames import (
    DEFAULT_CHUNK, MAX_PAYLOAD, AckStatus, Frame, FrameDecoder, FrameType, decode_ack, encode_chunk,
    encode_frame,
)
from controller.errors import DeviceError
from controller.logs import get_logger
from specs.v1alpha1.device_profile import DeviceProfile

log = get_logger("agent.gateway")

ACK_TIMEOUT_S = 5.0          # one chunk over a slow UART is well under this
INSTALL_TIMEOUT_S = 180.0    # the board measures the arena and runs its health check
MAX_RETRIES = 8              # resends of one chunk before the transfer is abandoned


# --- identification ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectedPort:
    device: str              # /dev/ttyACM0
    usb: str | None          # "2341:805a"
    profile: str | None      # DeviceProfile name matched by VID:PID
    description: str = ""


def match_usb(vid: int | None, pid: int | None, profiles: dict[str, DeviceProfile]) -> str | None:
    """The DeviceProfile whose USB ids include vid:pid, or None."""
    if vid is None or pid is None:
        return None
    for name, profile in sorted(profiles.items()):
        if any(u.vid == vid and u.pid == pid for u in profile.spec.usb):
            return name
    return None


def detect_ports(profiles: dict[str, DeviceProfile]) -> list[DetectedPort]:
    """Serial ports with a USB id, matched to the catalogue (unknown boards are kept: their hello may say)."""
    found = []
    for port in list_ports.comports():
        if port.vid is None:
            continue
        found.append(DetectedPort(port.device, f"{port.vid:04x}:{port.pid:04x}",
                                  match_usb(port.vid, port.pid, profiles), port.description or ""))
    return found


# --- one board on one serial port -------------------------------------------------------------

@dataclass
class TransferOutcome:
    status: AckStatus            # INSTALLED, ROLLED_BACK or REFUSED
    bytes_sent: int              # chunk bytes written to the port, resends included
    resends: int
    events: list[dict] = field(default_factory=list)


class BoardLink:
    """Frames in and out of one board; a reader thread routes acks to the sender, the rest to `on_frame`."""

    def __init__(self, port: str | serial.Serial, *, baudrate: int = 115200,
                 on_frame: Callable[[Frame], None] | None = None) -> None:
        self.serial = port if isinstance(port, serial.Serial) else serial.Serial(port, baudrate, timeout=0.1)
        self.decoder = FrameDecoder()
        self.on_frame = on_frame or (lambda frame: None)
        self._acks: queue.Queue[tuple[int, AckStatus]] = queue.Queue()
        self._replies: queue.Queue[Frame] = queue.Queue()  # HELLO / STATE / EVENT, for query() and send_model()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"serial-{self.serial.port}", daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=2)
        self.serial.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.serial.read(max(1, self.serial.in_waiting or 1))
            except (serial.SerialException, OSError, TypeError):
                if self._stop.is_set():
                    return
                log.warning("serial port failed", extra={"port": self.serial.port})
                return
            if not data:
                continue
            for frame in self.decoder.feed(data):
                if frame.type is FrameType.CHUNK_ACK:
                    self._acks.put(decode_ack(frame.payload))
                    continue
                if frame.type in (FrameType.HELLO, FrameType.STATE, FrameType.EVENT):
                    self._replies.put(frame)
                self.on_frame(frame)

    def write(self, frame: bytes) -> None:
        with self._write_lock:
            self.serial.write(frame)
            self.serial.flush()

    def query(self, timeout_s: float = 3.0) -> tuple[dict, dict]:
        """Ask the board to announce itself; its (hello, state). DeviceError when it stays silent."""
        self._drain(self._replies)
        self.write(encode_frame(FrameType.QUERY))
        hello = state = None
        deadline = time.monotonic() + timeout_s
        while (hello is None or state is None) and time.monotonic() < deadline:
            try:
                frame = self._replies.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if frame.type is FrameType.HELLO:
                hello = frame.json()
            elif frame.type is FrameType.STATE:
                state = frame.json()
        if hello is None or state is None:
            raise DeviceError(f"no hello from the board on {self.serial.port} within {timeout_s:.0f} s: "
                              "check that it runs Origami firmware and the baud rate matches")
        return hello, state

    def send_model(self, signed_manifest: bytes, data: bytes, *, chunk_size: int = DEFAULT_CHUNK,
                   progress: Callable[[int, int], None] | None = None) -> TransferOutcome:
        """Send a signed manifest, then the bytes in chunks (stop-and-wait, resumed from the board's ack).

        Returns when the board installed, rolled back or refused; DeviceError when it stops answering.
        """
        chunk_size = min(chunk_size, MAX_PAYLOAD - 4)
        self._drain(self._acks)
        self._drain(self._replies)
        self.write(encode_frame(FrameType.MANIFEST, signed_manifest))
        offset, status = self._ack(ACK_TIMEOUT_S, "the manifest")
        sent = resends = 0
        retries = 0
        while status in (AckStatus.OK, AckStatus.RESEND) and offset < len(data):
            chunk = data[offset:offset + chunk_size]
            self.write(encode_chunk(offset, chunk))
            sent += len(chunk)
            last = offset + len(chunk) >= len(data)
            try:
                next_offset, status = self._ack(INSTALL_TIMEOUT_S if last else ACK_TIMEOUT_S, f"chunk at {offset}")
            except DeviceError:
                retries += 1
                if retries > MAX_RETRIES:
                    raise
                resends += 1
                continue  # no ack (the chunk or its ack was lost): send the same chunk again
            if status is AckStatus.RESEND or next_offset <= offset:
                retries += 1
                resends += 1
                if retries > MAX_RETRIES:
                    raise DeviceError(f"board on {self.serial.port} rejected the chunk at {offset} "
                                      f"{retries} times; the serial link is too noisy")
            else:
                retries = 0
            offset = next_offset
            if progress:
                progress(min(offset, len(data)), len(data))
        if status in (AckStatus.OK, AckStatus.RESEND) and offset >= len(data):
            offset, status = self._ack(INSTALL_TIMEOUT_S, "the install")  # e.g. resumed a complete transfer
        events = [f.json() for f in self._drain(self._replies) if f.type is FrameType.EVENT]
        return TransferOutcome(status=status, bytes_sent=sent, resends=resends, events=events)

    def _ack(self, timeout_s: float, what: str) -> tuple[int, AckStatus]:
        try:
            return self._acks.get(timeout=timeout_s)
        except queue.Empty:
            raise DeviceError(f"board on {self.serial.port} did not acknowledge {what} within {timeout_s:.0f} s") from None

    @staticmethod
    def _drain(q: queue.Queue) -> list:
        items = []
        while True:
            try:
                items.append(q.get_nowait())
            except queue.Empty:
                return items


# --- full firmware flashing -------------------------------------------------------------------

def flash_command(profile: DeviceProfile, port: str, firmware: str | Path) -> list[str]:
    """The board's flasher command with {port} and {firmware} filled in (shell-quoted safely)."""
    if not profile.spec.flasher:
        raise DeviceError(f"DeviceProfile/{profile.metadata.name} has no flasher command; add spec.flasher")
    words = shlex.split(profile.spec.flasher)
    return [w.replace("{port}", port).replace("{firmware}", str(firmware)) for w in words]


def flash_firmware(profile: DeviceProfile, port: str, firmware: str | Path, *, timeout_s: float = 600) -> str:
    """Run the flasher; its output. DeviceError (with the tool's last lines) when it fails or is missing."""
    command = flash_command(profile, port, firmware)
    log.info("flashing firmware", extra={"profile": profile.metadata.name, "port": port, "command": command})
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise DeviceError(f"flasher {command[0]!r} for {profile.metadata.name} is not installed") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"flasher {command[0]} did not finish within {timeout_s:.0f} s") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise DeviceError(f"flashing {profile.metadata.name} on {port} failed (exit {result.returncode}): {output[-1000:]}")
    return output


# --- the MQTT side ----------------------------------------------------------------------------

DOWNLOAD_TIMEOUT_S = 30.0    # silence between two artifact chunks before the download is abandoned


def _capabilities(hello: dict, profile: DeviceProfile | None, usb: str | None):
    from specs.v1alpha1.protocol import Accelerator, Capabilities

    spec = profile.spec if profile else None
    return Capabilities(
        family="mcu", board=hello.get("board") or (spec.board if spec else ""),
        profile=profile.metadata.name if profile else hello.get("profile"),
        arch=hello.get("cpu") or (spec.cpu if spec else ""), cores=spec.cores if spec else 1,
        ramBytes=int(hello.get("ram") or (spec.ram if spec else 0)),
        flashBytes=int(hello.get("flash") or (spec.flash if spec else 0)),
        runtimes=[hello.get("runtime", "tflm")],
        accelerators=[Accelerator(kind=a) for a in (spec.accelerators if spec else [])],
        transports=["usb-serial"], usb=usb or hello.get("usb"))


class _Board:
    """One attached board: its serial link, what it said, and the desired state it follows."""

    def __init__(self, gateway: "Gateway", link: BoardLink, hello: dict, state: dict, profile: DeviceProfile | None,
                 usb: str | None) -> None:
        self.gateway = gateway
        self.link = link
        self.hello = hello
        self.state = state
        self.profile = profile
        self.usb = usb
        self.device_id: str = hello["deviceId"]
        self.observed_generation = -1
        self.desired: queue.Queue = queue.Queue()
        self.offers: queue.Queue = queue.Queue()
        self.chunks: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._follow, name=f"gateway-{self.device_id}", daemon=True)

    # Serial frames the board sends on its own (state changes, events, samples) go to MQTT.
    def on_frame(self, frame: Frame) -> None:
        if frame.type is FrameType.STATE:
            self.state = frame.json()
            self.gateway._publish_state(self)
        elif frame.type is FrameType.EVENT:
            self.gateway._publish_event(self, frame.json())
        elif frame.type is FrameType.SAMPLES:
            self.gateway._publish_samples(self, frame.json())

    def _follow(self) -> None:
        while True:
            desired = self.desired.get()
            if desired is None:
                return
            while not self.desired.empty():  # only the newest desired state matters
                newer = self.desired.get()
                if newer is None:
                    return
                desired = newer
            try:
                self.gateway._converge(self, desired)
            except DeviceError as err:
                log.warning("update failed", extra={"device": self.device_id, "error": str(err)})
                self.gateway._publish_event(self, {"type": "Warning", "reason": "UpdateFailed", "message": str(err),
                                                   "digest": desired.artifact.manifest.digest if desired.artifact else None})


class Gateway:
    """Bridges boards on serial ports to MQTT protocol v1. `attach(port)` per board; `close()` at the end."""

    def __init__(self, gateway_id: str, broker_url: str, profiles: dict[str, DeviceProfile], *,
                 spool: str | Path, username: str | None = None, password: str | None = None,
                 chunk_size: int = DEFAULT_CHUNK) -> None:
        from controller.devices.mqtt_link import MqttLink, Will
        from specs.v1alpha1.protocol import Presence, encode, presence_topic

        self.gateway_id = gateway_id
        self.profiles = profiles
        self.chunk_size = chunk_size
        self.spool = Path(spool)
        self.boards: dict[str, _Board] = {}
        will = Will(presence_topic(gateway_id), encode(Presence(deviceId=gateway_id, online=False)))
        self.mqtt = MqttLink(f"gateway-{gateway_id}", broker_url, username=username, password=password, will=will)
        self.mqtt.start()
        self.mqtt.publish(presence_topic(gateway_id), encode(Presence(deviceId=gateway_id, online=True)), retain=True)

    def attach(self, port: str, *, usb: str | None = None, profile: str | None = None,
               baudrate: int = 115200) -> str:
        """Open the board's port, identify it, announce it on MQTT and follow its desired state; its id."""
        from specs.v1alpha1.protocol import DesiredState, decode, desired_topic, transfer_chunk_topic, transfer_offer_topic

        link = BoardLink(port, baudrate=baudrate)
        hello, state = link.query()
        name = profile or hello.get("profile")
        matched = self.profiles.get(name) if name else None
        if profile is None and usb:
            by_usb = self.profiles.get(match_usb(*(int(x, 16) for x in usb.split(":")), self.profiles) or "")
            matched = by_usb or matched
        board = _Board(self, link, hello, state, matched, usb)
        link.on_frame = board.on_frame
        self.boards[board.device_id] = board
        self._publish_hello(board)
        self._publish_state(board)
        from specs.v1alpha1.protocol import OFFER_REPLY, decode_chunk

        self.mqtt.subscribe(transfer_offer_topic(board.device_id),
                            lambda t, p: board.offers.put(OFFER_REPLY.validate_json(p)))
        self.mqtt.subscribe(transfer_chunk_topic(board.device_id), lambda t, p: board.chunks.put(decode_chunk(p)))
        board.worker.start()
        self.mqtt.subscribe(desired_topic(board.device_id), lambda t, p: board.desired.put(decode(DesiredState, p)))
        log.info("board attached", extra={"device": board.device_id, "port": port,
                                          "profile": matched.metadata.name if matched else None, "usb": usb})
        return board.device_id

    def close(self) -> None:
        from specs.v1alpha1.protocol import Presence, encode, presence_topic

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

    def _publish_hello(self, board: _Board) -> None:
        from specs.v1alpha1.protocol import Hello, Presence, encode, hello_topic, presence_topic

        hello = Hello(deviceId=board.device_id, agent="gateway", agentVersion=board.hello.get("firmwareVersion", ""),
                      capabilities=_capabilities(board.hello, board.profile, board.usb), gateway=self.gateway_id)
        self.mqtt.publish_and_wait(hello_topic(board.device_id), encode(hello), retain=True)
        self.mqtt.publish(presence_topic(board.device_id), encode(Presence(deviceId=board.device_id, online=True)),
                          retain=True)

    def _publish_state(self, board: _Board) -> None:
        from specs.v1alpha1.protocol import ReportedState, encode, state_topic

        s = board.state
        slots = [slot for slot in s.get("slots", []) if slot.get("name") in ("a", "b")]
        state = ReportedState(
            deviceId=board.device_id, firmwareVersion=board.hello.get("firmwareVersion", ""),
            activeSlot=s.get("activeSlot"), slots=slots, modelVersion=s.get("modelVersion"),
            modelDigest=s.get("modelDigest"), health=s.get("health", "unknown"), healthReason=s.get("healthReason", ""),
            observedGeneration=board.observed_generation, lastUpdate=s.get("lastUpdate"))
        self.mqtt.publish_and_wait(state_topic(board.device_id), encode(state), retain=True)

    def _publish_event(self, board: _Board, body: dict) -> None:
        from specs.v1alpha1.protocol import Event, encode, events_topic

        event = Event(deviceId=board.device_id, type=body.get("type", "Normal"), reason=body.get("reason") or "Event",
                      message=body.get("message", ""), digest=body.get("digest"))
        self.mqtt.publish(events_topic(board.device_id), encode(event))

    def _publish_samples(self, board: _Board, body: dict) -> None:
        from specs.v1alpha1.protocol import Sample, encode, samples_topic

        values = body.get("values", [])
        sample = Sample(deviceId=board.device_id, sensor=body.get("sensor", "sensor"), session=body.get("session"),
                        label=body.get("label"), rateHz=body.get("rateHz", 1.0), shape=body.get("shape", [len(values)]),
                        values=values)
        self.mqtt.publish(samples_topic(board.device_id), encode(sample))

    # --- converging on the desired state -------------------------------------------------------

    def _converge(self, board: _Board, desired) -> None:
        from specs.v1alpha1.protocol import encode

        last = board.state.get("lastUpdate") or {}
        if desired.artifact is not None and desired.generation == board.observed_generation and \
                last.get("digest") == desired.artifact.manifest.digest:
            return  # already applied (a republish after a controller restart): never install twice
        if desired.artifact is None or desired.artifact.manifest.digest == board.state.get("modelDigest"):
            board.observed_generation = desired.generation
            self._publish_state(board)
            return
        manifest = desired.artifact.manifest
        data = self._download(board, manifest.digest, manifest.size, desired.chunkSize)
        outcome = board.link.send_model(encode(desired.artifact), data, chunk_size=self.chunk_size)
        log.info("board update finished", extra={"device": board.device_id, "outcome": outcome.status.name,
                                                 "bytes_sent": outcome.bytes_sent, "resends": outcome.resends})
        _, board.state = board.link.query()
        board.observed_generation = desired.generation
        self._publish_state(board)

    def _download(self, board: _Board, digest: str, size: int, chunk_size: int) -> bytes:
        """Fetch an artifact over MQTT into the spool (request, offer, chunks, acks), resumable on disk."""
        from controller.devices.transfer import ChunkReceiver
        from specs.v1alpha1.protocol import TransferRequest, encode, transfer_ack_topic, transfer_request_topic

        BoardLink._drain(board.offers)
        BoardLink._drain(board.chunks)
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
