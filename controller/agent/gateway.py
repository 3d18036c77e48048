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
