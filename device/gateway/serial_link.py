"""One board on one byte stream: framed messages in and out (docs/serial.md), a query for its hello
and state, and a model sent as a signed manifest plus chunks, stop-and-wait, resumed from its acks.

The stream is a serial port (`SerialStream`) or anything with the same four members (`ByteStream`),
e.g. the GATT stream of a Bluetooth LE board (`device.gateway.ble_link`): framing and transfer logic
are the same whatever carries the bytes."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol

import serial

from device.serial_frames import DEFAULT_CHUNK
from device.serial_frames import MAX_PAYLOAD
from device.serial_frames import AckStatus
from device.serial_frames import Frame
from device.serial_frames import FrameDecoder
from device.serial_frames import FrameType
from device.serial_frames import decode_ack
from device.serial_frames import decode_infer_result
from device.serial_frames import encode_chunk
from device.serial_frames import encode_frame
from runtimes.audio_device import PARAMS_BYTES
from specs.errors import DeviceError
from wire.logs import get_logger

log = get_logger("gateway.serial")

ACK_TIMEOUT_S = 5.0          # one chunk over a slow UART is well under this
INSTALL_TIMEOUT_S = 180.0    # the board measures the arena and runs its health check
MAX_RETRIES = 8              # resends of one chunk before the transfer is abandoned
_RESTARTED = (-1, AckStatus.RESEND)  # queued with the acks when the stream restarts: resend now, not at timeout


def drain(q: queue.Queue) -> list:
    """Everything queued now, without waiting."""
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


@dataclass
class TransferOutcome:
    status: AckStatus            # INSTALLED, ROLLED_BACK or REFUSED
    bytes_sent: int              # chunk bytes written to the port, resends included
    resends: int
    events: list[dict] = field(default_factory=list)


class ByteStream(Protocol):
    """What carries a board's bytes. `read` returns what arrived (b"" after a short wait), or None when
    the stream restarted (a reconnection: a partly received frame will never be completed); it raises
    OSError when the stream is gone for good."""

    name: str          # for messages: the port, or the board's Bluetooth address
    transport: str     # a Capabilities transport: "usb-serial", "ble"

    def read(self) -> bytes | None: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class SerialStream:
    """A serial port as a ByteStream."""

    transport = "usb-serial"

    def __init__(self, port: str | serial.Serial, baudrate: int = 115200) -> None:
        self.serial = port if isinstance(port, serial.Serial) else serial.Serial(port, baudrate, timeout=0.1)
        self.name = self.serial.port

    def read(self) -> bytes:
        try:
            return self.serial.read(max(1, self.serial.in_waiting or 1))
        except (serial.SerialException, TypeError) as err:  # TypeError: pyserial on a closed fd
            raise OSError(str(err)) from err

    def write(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def close(self) -> None:
        self.serial.close()


class BoardLink:
    """Frames in and out of one board; a reader thread routes acks to the sender, the rest to `on_frame`."""

    def __init__(self, port: str | serial.Serial | ByteStream, *, baudrate: int = 115200,
                 on_frame: Callable[[Frame], None] | None = None) -> None:
        self.stream: ByteStream = (SerialStream(port, baudrate) if isinstance(port, str | serial.Serial)
                                   else port)
        self.name = self.stream.name
        self.decoder = FrameDecoder()
        self.on_frame = on_frame or (lambda frame: None)
        self._acks: queue.Queue[tuple[int, AckStatus]] = queue.Queue()
        self._replies: queue.Queue[Frame] = queue.Queue()  # HELLO / STATE / EVENT, for query() and send_model()
        self._write_lock = threading.Lock()
        self.max_payload = MAX_PAYLOAD  # the board's own limit once its hello said so
        self._results: queue.Queue[Frame] = queue.Queue()  # INFER_RESULT, for infer()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"board-{self.name}", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        """The port still reads (a failed or unplugged port ends the reader)."""
        return self._reader.is_alive() and not self._stop.is_set() and getattr(self.stream, "connected", True)

    @property
    def transport(self) -> str:
        return self.stream.transport

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=2)
        self.stream.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.stream.read()
            except OSError:
                if self._stop.is_set():
                    return
                log.warning("board link failed", extra={"port": self.name})
                return
            if data is None:  # the stream restarted: a frame cut by it, or its ack, will never complete
                self.decoder.buffer.clear()
                self._acks.put(_RESTARTED)
                continue
            if not data:
                continue
            for frame in self.decoder.feed(data):
                if frame.type is FrameType.CHUNK_ACK:
                    self._acks.put(decode_ack(frame.payload))
                    continue
                if frame.type is FrameType.INFER_RESULT:
                    self._results.put(frame)
                    continue
                if frame.type in (FrameType.HELLO, FrameType.STATE, FrameType.EVENT):
                    self._replies.put(frame)
                self.on_frame(frame)

    def write(self, frame: bytes) -> None:
        with self._write_lock:
            self.stream.write(frame)

    def query(self, timeout_s: float = 3.0) -> tuple[dict, dict]:
        """Ask the board to announce itself; its (hello, state). DeviceError when it stays silent."""
        drain(self._replies)
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
            raise DeviceError(f"no hello from the board on {self.name} within {timeout_s:.0f} s: "
                              "check that it runs Origami firmware and the baud rate matches")
        advertised = hello.get("maxPayload")
        if isinstance(advertised, int) and 64 < advertised <= MAX_PAYLOAD:
            self.max_payload = advertised
        return hello, state

    def send_model(self, signed_manifest: bytes, data: bytes, *, chunk_size: int = DEFAULT_CHUNK,
                   progress: Callable[[int, int], None] | None = None) -> TransferOutcome:
        """Send a signed manifest, then the bytes in chunks (stop-and-wait, resumed from the board's ack).

        Returns when the board installed, rolled back or refused; DeviceError when it stops answering.
        """
        chunk_size = min(chunk_size, self.max_payload - 4)  # a chunk frame is offset u32 + bytes
        drain(self._acks)
        drain(self._replies)
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
                    raise DeviceError(f"board on {self.name} rejected the chunk at {offset} "
                                      f"{retries} times; the link is too noisy")
            else:
                retries = 0
            offset = next_offset
            if progress:
                progress(min(offset, len(data)), len(data))
        if status in (AckStatus.OK, AckStatus.RESEND) and offset >= len(data):
            offset, status = self._ack(INSTALL_TIMEOUT_S, "the install")  # e.g. resumed a complete transfer
        events = [f.json() for f in drain(self._replies) if f.type is FrameType.EVENT]
        return TransferOutcome(status=status, bytes_sent=sent, resends=resends, events=events)

    def infer(self, data: bytes, timeout_s: float = ACK_TIMEOUT_S) -> tuple[bytes, int]:
        """Run one inference on the board (INFER frame): the raw output bytes and the cycles it took.
        DeviceError when the board has no healthy model, refuses the input or stays silent."""
        return self._inference(FrameType.INFER, data, timeout_s)

    def infer_audio(self, params: bytes, pcm: bytes, timeout_s: float = ACK_TIMEOUT_S) -> tuple[bytes, int]:
        """One inference from raw audio (AUDIO_INFER frame): `params` the 64 B of the model's front end
        (runtimes.audio_device.AudioParams.pack()), `pcm` little-endian int16 samples; the board computes
        the features itself. The raw output bytes and the cycles of front end + inference."""
        if len(params) != PARAMS_BYTES:
            raise DeviceError(f"audio front-end parameters are {PARAMS_BYTES} B, not {len(params)}")
        if len(params) + len(pcm) > self.max_payload:
            raise DeviceError(f"{len(pcm) // 2} samples exceed the board's {self.max_payload} B frames")
        return self._inference(FrameType.INFER_AUDIO, params + pcm, timeout_s)

    def _inference(self, kind: FrameType, payload: bytes, timeout_s: float) -> tuple[bytes, int]:
        drain(self._results)
        self.write(encode_frame(kind, payload))
        try:
            frame = self._results.get(timeout=timeout_s)
        except queue.Empty:
            raise DeviceError(f"board on {self.name} did not answer an inference within "
                              f"{timeout_s:.0f} s") from None
        ok, cycles, body = decode_infer_result(frame.payload)
        if not ok:
            raise DeviceError(f"board on {self.name} could not run the inference: "
                              f"{body.decode('ascii', 'replace')[:200]}")
        return body, cycles

    def _ack(self, timeout_s: float, what: str) -> tuple[int, AckStatus]:
        try:
            ack = self._acks.get(timeout=timeout_s)
        except queue.Empty:
            raise DeviceError(f"board on {self.name} did not acknowledge {what} "
                              f"within {timeout_s:.0f} s") from None
        if ack is _RESTARTED:
            raise DeviceError(f"the link to the board on {self.name} restarted before it acknowledged {what}")
        return ack
