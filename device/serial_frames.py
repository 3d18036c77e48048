"""Framed serial protocol between the gateway and a microcontroller (docs/serial.md).

Frame: b"OG" | type u8 | length u32le | header check u16le | payload | crc32(payload) u32le.
The header check (low 16 bits of CRC-32 over type+length) rejects a corrupted length at
once, so a flipped bit never makes the reader wait for a frame that is not coming. On any
mismatch the decoder drops one byte and hunts for the next magic: resync, never a crash.
Structured payloads are compact JSON; model chunks and acks are binary to keep them small.
"""
from __future__ import annotations

import enum
import json
import struct
import zlib
from dataclasses import dataclass
from dataclasses import field
from typing import Any

MAGIC = b"OG"
_HEADER = struct.Struct("<2sBIH")  # magic, type, length, header check
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size
OVERHEAD = HEADER_SIZE + _CRC.size
MAX_PAYLOAD = 64 * 1024  # bounds a board's receive buffer; chunks are a few KiB below this
DEFAULT_CHUNK = 8 * 1024


class FrameType(enum.IntEnum):
    HELLO = 1       # board -> gateway: identity and capabilities (JSON)
    STATE = 2       # board -> gateway: slots, versions, health (JSON)
    MANIFEST = 3    # gateway -> board: signed manifest, opens a transfer (JSON)
    CHUNK = 4       # gateway -> board: offset u32le | bytes
    CHUNK_ACK = 5   # board -> gateway: next offset u32le | status u8
    SAMPLES = 6     # board -> gateway: a sensor window (JSON)
    EVENT = 7       # board -> gateway: something happened, with a reason (JSON)
    QUERY = 8       # gateway -> board: announce yourself (empty); board answers HELLO then STATE
    INFER = 9       # gateway -> board: the input tensor's raw bytes; board answers INFER_RESULT
    INFER_RESULT = 10  # board -> gateway: status u8 (0 ok) | cycles u32le | output bytes (or a reason)
    INFER_AUDIO = 11   # gateway -> board: 64 B front-end params | int16le PCM; board answers INFER_RESULT


class AckStatus(enum.IntEnum):
    OK = 0          # next offset is where to continue (== size: complete and installed)
    RESEND = 1      # a chunk was bad or out of order: resume from next offset
    REFUSED = 2     # the transfer is refused; an EVENT says why
    INSTALLED = 3   # all bytes verified, installed, healthy
    ROLLED_BACK = 4 # installed but failed its health check; previous slot active again


@dataclass(frozen=True)
class Frame:
    type: FrameType | int
    payload: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.payload.decode("utf-8"))


def _header_check(ftype: int, length: int) -> int:
    return zlib.crc32(struct.pack("<BI", ftype, length)) & 0xFFFF


def encode_frame(ftype: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte frame limit")
    header = _HEADER.pack(MAGIC, int(ftype), len(payload), _header_check(int(ftype), len(payload)))
    return header + payload + _CRC.pack(zlib.crc32(payload))


def encode_json(ftype: int, body: dict[str, Any]) -> bytes:
    return encode_frame(ftype, json.dumps(body, separators=(",", ":"), sort_keys=True).encode())


def signed_manifest_payload(signed) -> bytes:
    """A MANIFEST frame's payload: the `SignedManifest` as sorted-key, compact ASCII JSON, so the raw
    value of its `manifest` member is exactly `Manifest.canonical_bytes()`, the bytes the controller
    signed. A board verifies the signature over that substring and reads its fields from the same
    bytes (no re-serialisation on the device)."""
    from specs.v1alpha1.protocol import canonical_json

    return canonical_json(signed.model_dump(mode="json"))


def encode_chunk(offset: int, data: bytes) -> bytes:
    return encode_frame(FrameType.CHUNK, struct.pack("<I", offset) + data)


def decode_chunk(payload: bytes) -> tuple[int, bytes]:
    (offset,) = struct.unpack_from("<I", payload)
    return offset, payload[4:]


def encode_ack(next_offset: int, status: AckStatus) -> bytes:
    return encode_frame(FrameType.CHUNK_ACK, struct.pack("<IB", next_offset, int(status)))


def decode_infer_result(payload: bytes) -> tuple[bool, int, bytes]:
    """(ok, cycles the inference took on the device, raw output bytes or the board's reason)."""
    status, cycles = struct.unpack_from("<BI", payload)
    return status == 0, cycles, payload[5:]


def decode_ack(payload: bytes) -> tuple[int, AckStatus]:
    next_offset, status = struct.unpack("<IB", payload)
    return next_offset, AckStatus(status)


@dataclass
class FrameDecoder:
    """Incremental decoder: feed it whatever the port returned, get whole frames back."""

    buffer: bytearray = field(default_factory=bytearray)
    crc_errors: int = 0
    header_errors: int = 0
    skipped_bytes: int = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        while True:
            start = self.buffer.find(MAGIC)
            if start < 0:
                # Keep a trailing 'O' which may be the first half of the next magic.
                keep = 1 if self.buffer[-1:] == MAGIC[:1] else 0
                self.skipped_bytes += len(self.buffer) - keep
                del self.buffer[: len(self.buffer) - keep]
                return frames
            if start:
                self.skipped_bytes += start
                del self.buffer[:start]
            if len(self.buffer) < HEADER_SIZE:
                return frames
            _, ftype, length, check = _HEADER.unpack_from(self.buffer)
            if length > MAX_PAYLOAD or check != _header_check(ftype, length):
                self.header_errors += 1
                self._skip_one()
                continue
            end = HEADER_SIZE + length + _CRC.size
            if len(self.buffer) < end:
                return frames
            payload = bytes(self.buffer[HEADER_SIZE:HEADER_SIZE + length])
            (crc,) = _CRC.unpack_from(self.buffer, HEADER_SIZE + length)
            if crc != zlib.crc32(payload):
                self.crc_errors += 1
                self._skip_one()
                continue
            del self.buffer[:end]
            try:
                kind: FrameType | int = FrameType(ftype)
            except ValueError:  # a newer board's type: pass it on, the reader decides
                kind = ftype
            frames.append(Frame(kind, payload))

    def _skip_one(self) -> None:
        self.skipped_bytes += 1
        del self.buffer[:1]
