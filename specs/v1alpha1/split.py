"""Split inference messages (protocol origami/v1): a device's head output to a tail worker and back.

Request, device -> worker, on `origami/v1/devices/{device}/split/{tail}/request`, where `tail` names
the tail model (the first 16 hex digits of its sha256, so a worker serves exactly the tails it holds)
and `device` is the sender, whose own topic tree the broker lets it write to. Binary: the
magic `OSPL1`, a 4-byte big-endian header length, the `SplitRequest` header as JSON, then the raw
tensor bytes (int8 for an int8 head), so a crossing tensor costs its own size on the wire.
Reply, worker -> device, on `origami/v1/devices/{device}/split/reply` of the device whose request
topic the request came on (never one named in the payload): a `SplitReply` as JSON.
Nothing here does I/O.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from specs.v1alpha1.protocol import DeviceId
from specs.v1alpha1.protocol import device_topic

MAGIC = b"OSPL1"
TAIL_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_HEADER_BYTES = 64 * 1024
DTYPE_SIZES = {"int8": 1, "uint8": 1, "int16": 2, "float32": 4}


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SplitRequest(_Message):
    """Header of one request; the tensor follows it in the same payload."""

    id: str = Field(min_length=1, max_length=64, description="Request id, echoed in the reply.")
    device: DeviceId = Field(description="The sender; must be the device of the request topic, whose "
                                         "split/reply topic gets the answer.")
    tail: str = Field(pattern=TAIL_ID_PATTERN)
    shape: list[int] = Field(max_length=8, description="Crossing tensor shape, without the batch axis.")
    dtype: Literal["int8", "uint8", "int16", "float32"]
    scale: float = Field(default=0.0, ge=0.0, description="Quantization scale (0: not quantized).")
    zeroPoint: int = 0
    sentAt: float = Field(default=0.0, description="Device clock, seconds; echoed for round-trip figures.")

    @property
    def data_bytes(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count * DTYPE_SIZES[self.dtype]


class SplitReply(_Message):
    id: str = Field(min_length=1, max_length=64)
    tail: str = Field(pattern=TAIL_ID_PATTERN)
    ok: bool
    outputs: list[float] = Field(default_factory=list, description="The tail's output, flattened, float32.")
    shape: list[int] = Field(default_factory=list, max_length=8)
    error: str = Field(default="", max_length=1024)
    workerMs: float = Field(default=0.0, ge=0.0, description="Time the worker spent on the tail.")
    sentAt: float = 0.0


def tail_id(tail_tflite: bytes) -> str:
    return hashlib.sha256(tail_tflite).hexdigest()[:16]


def split_request_topic(tail: str, device_id: str) -> str:
    """In the sending device's own topic tree; `+` for either gives a worker's subscription filter."""
    return device_topic(device_id, f"split/{tail}/request")


def split_reply_topic(device_id: str) -> str:
    return device_topic(device_id, "split/reply")


def encode_request(header: SplitRequest, data: bytes) -> bytes:
    if len(data) != header.data_bytes:
        raise ValueError(f"tensor of {len(data)} bytes does not match shape {header.shape} {header.dtype}")
    head = header.model_dump_json().encode()
    return MAGIC + struct.pack(">I", len(head)) + head + data


def decode_request(payload: bytes) -> tuple[SplitRequest, bytes]:
    """Raises ValueError (or pydantic's ValidationError, a ValueError) on any malformed payload."""
    if not payload.startswith(MAGIC) or len(payload) < len(MAGIC) + 4:
        raise ValueError("not a split request (bad magic)")
    (size,) = struct.unpack(">I", payload[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if size > MAX_HEADER_BYTES or start + size > len(payload):
        raise ValueError("split request header length is out of range")
    header = SplitRequest.model_validate_json(payload[start:start + size])
    data = payload[start + size:]
    if len(data) != header.data_bytes:
        raise ValueError(f"split request carries {len(data)} tensor bytes, its header says {header.data_bytes}")
    return header, data
