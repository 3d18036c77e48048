"""Device protocol v1 over MQTT: every payload as a pydantic model, topic names as functions.

Documented in docs/protocol.md. Nothing here does I/O. JSON payloads are compact UTF-8
(`encode`/`decode`); artifact chunks are binary (`encode_chunk`/`decode_chunk`) so that an
update costs barely more than the artifact itself on the wire.

Readers are tolerant (unknown fields are ignored, so a newer device still talks to an older
controller); the signed `Manifest` is strict, because its exact bytes are what was signed. Signed
messages (`DesiredState`, `KeyEndorsement`) are signed over `canonical_json` of the message as
sent, without its `signature` field: a device verifies the document it received, not its own model
of it, so fields it does not know are covered too.
"""
from __future__ import annotations

import hashlib
import json
import struct
import time
from typing import Annotated
from typing import Any
from typing import Literal
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import TypeAdapter

PROTOCOL: Literal["origami/v1"] = "origami/v1"
TOPIC_ROOT = "origami/v1"

# Device ids are DNS labels: valid as one MQTT topic level, a Mosquitto user name and a file name.
DEVICE_ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN, min_length=1, max_length=63)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
SlotName = Literal["a", "b"]
KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]          # sha256 of the raw public key, 16 hex digits
Signature = Annotated[str, Field(min_length=1, max_length=128)]  # base64 of a 64-byte Ed25519 signature
RawPublicKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]  # base64 of a 32-byte Ed25519 key
BoardClass = Annotated[str, Field(min_length=1, max_length=128)]
# Bounds on what devices send: every string, list, map and number has a limit (docs/protocol.md).
Timestamp = Annotated[float, Field(ge=0, le=1e11)]   # seconds since the epoch (a device's clock: shown, never trusted)
Name = Annotated[str, Field(max_length=128)]         # versions, agents, runtimes, board names
Text = Annotated[str, Field(max_length=1024)]        # reasons and messages (shown cut shorter)
Count = Annotated[int, Field(ge=0, le=2**53 - 1)]
ArtifactUrl = Annotated[str, Field(pattern=r"^https?://[!-~]+$", max_length=2048)]  # printable ASCII, no spaces
Labels = Annotated[dict[Annotated[str, Field(max_length=63)], Annotated[str, Field(max_length=253)]],
                   Field(max_length=64)]

DEFAULT_CHUNK_SIZE = 64 * 1024   # few, large messages: paho and Mosquitto both pay per message
DEFAULT_WINDOW = 4               # chunks in flight before the sender waits for an ack
MAX_CHUNK_SIZE = 1024 * 1024
MAX_SEQUENCE = 2**53 - 1         # exact in every JSON reader (IEEE doubles)
MAX_DESIRED_BYTES = 16 * 1024    # a desired state larger than this is dropped unread
MAX_KEY_ANNOUNCEMENT_BYTES = 16 * 1024
MAX_ENDORSEMENTS = 32


def now() -> float:
    return round(time.time(), 3)


class Message(BaseModel):
    """Base of every JSON payload: tolerant reader, immutable once built."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def canonical_json(document: Any) -> bytes:
    """The one byte encoding that is signed: keys sorted at every level, no whitespace
    (`,` and `:`), non-ASCII as \\uXXXX escapes, numbers as Python's json module writes them."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What a signed message's `signature` covers: the message as sent, less `signature`."""
    return canonical_json({key: value for key, value in document.items() if key != "signature"})


# --- topics -----------------------------------------------------------------------------------

def device_topic(device_id: str, channel: str) -> str:
    return f"{TOPIC_ROOT}/devices/{device_id}/{channel}"


def hello_topic(device_id: str) -> str:
    """Device -> controller, retained: who the device is and what it can do (`Hello`)."""
    return device_topic(device_id, "hello")


def state_topic(device_id: str) -> str:
    """Device -> controller, retained: what the device runs and how it is (`ReportedState`)."""
    return device_topic(device_id, "state")


def desired_topic(device_id: str) -> str:
    """Controller -> device, retained: what the device should run (`DesiredState`, signed)."""
    return device_topic(device_id, "desired")


def presence_topic(device_id: str) -> str:
    """Device -> controller, retained: `Presence`; the broker publishes the last will here."""
    return device_topic(device_id, "presence")


def events_topic(device_id: str) -> str:
    """Device -> controller: `Event`s (install outcomes, rejections, faults)."""
    return device_topic(device_id, "events")


def samples_topic(device_id: str) -> str:
    """Device -> collector: `Sample` sensor windows."""
    return device_topic(device_id, "samples")


def transfer_request_topic(device_id: str) -> str:
    """Device -> controller: `TransferRequest` (start or resume from an offset)."""
    return device_topic(device_id, "transfer/request")


def transfer_ack_topic(device_id: str) -> str:
    """Device -> controller: `ChunkAck` for each chunk received."""
    return device_topic(device_id, "transfer/ack")


def transfer_offer_topic(device_id: str) -> str:
    """Controller -> device: `TransferOffer` or `TransferRefused` answering a request."""
    return device_topic(device_id, "transfer/offer")


def transfer_chunk_topic(device_id: str) -> str:
    """Controller -> device: binary chunks (`encode_chunk`)."""
    return device_topic(device_id, "transfer/chunk")


def keys_topic() -> str:
    """Controller -> every device, retained: `KeyAnnouncement`, the keys to trust after a rotation."""
    return f"{TOPIC_ROOT}/keys"


# Which side publishes on which channel: the broker ACLs are generated from these lists.
DEVICE_PUBLISHES = ("hello", "state", "presence", "events", "samples", "transfer/request", "transfer/ack")
# "collect" carries collection campaigns (specs/v1alpha1/collection.py); "split/reply" the tail
# worker's answers to a split head (specs/v1alpha1/split.py).
DEVICE_READS = ("desired", "transfer/offer", "transfer/chunk", "collect", "split/reply")


# --- hello and capabilities -------------------------------------------------------------------

class Accelerator(Message):
    kind: Literal["edgetpu", "cuda", "ethos-u", "esp-nn", "cmsis-nn"]
    detail: Name = ""                    # e.g. "/dev/apex_0", "CUDA 10.2"
    usable: bool = True                  # present *and* usable by the runtime we would deploy
    reason: Text = ""                    # why it is not usable, when it is not


class Capabilities(Message):
    """What a device reports about itself; the controller decides from this, never from a spec."""

    family: Literal["mcu", "linux"]
    board: Name = ""                     # board model as the device reads it (device tree, USB, serial hello)
    profile: Name | None = None          # matching DeviceProfile name, when the device or gateway knows it
    arch: Name = ""                      # aarch64, x86_64, armv7l, cortex-m4 ...
    cores: int = Field(default=1, ge=1, le=4096)
    ramBytes: Count = 0
    flashBytes: Count = 0                # program storage (MCU flash) or total disk
    freeBytes: Count = 0                 # free space where artifacts are installed
    runtimes: list[Name] = Field(default_factory=list, max_length=16)   # "litert", "tflm", "edgetpu-delegate" ...
    accelerators: list[Accelerator] = Field(default_factory=list, max_length=16)
    transports: list[Name] = Field(default_factory=list, max_length=16)
    usb: Name | None = None               # "2341:805a" for boards behind a gateway

    @property
    def board_class(self) -> str:
        """The board a desired state names: the DeviceProfile when known, else the board as read."""
        return self.profile or self.board


class Hello(Message):
    """Retained on `hello_topic`: published on every connect."""

    protocol: Literal["origami/v1"] = PROTOCOL
    deviceId: DeviceId
    agent: Name                          # "linux-agent", "gateway", "virtual-linux", "virtual-mcu" ...
    agentVersion: Name
    capabilities: Capabilities
    labels: Labels = Field(default_factory=dict)
    gateway: Name | None = None          # id of the gateway a microcontroller sits behind
    publicKeyId: Name | None = None      # id of the controller key the device trusts
    ts: Timestamp = Field(default_factory=now)


# --- signed desired state ---------------------------------------------------------------------

class Target(BaseModel):
    """What an artifact is for: the device checks it before installing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: Literal["litert", "tflm"]
    kind: Literal["model", "firmware", "bundle"] = "model"
    precision: Literal["int8", "float16", "float32", "dynamic"] = "int8"
    part: Literal["full", "head"] = "full"
    board: str | None = None             # DeviceProfile name when the artifact is board-specific


class Manifest(BaseModel):
    """The signed description of one artifact: digest, size, version, target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=253)        # e.g. "digits-cnn"
    version: str = Field(min_length=1, max_length=128)     # e.g. "3" or the model's content key
    digest: Sha256                                         # sha256 of the artifact bytes
    size: int = Field(gt=0)
    target: Target
    createdAt: float = Field(default_factory=now)

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are signed: sorted keys, no whitespace, ASCII."""
        return canonical_json(self.model_dump(mode="json"))


class SignedManifest(Message):
    manifest: Manifest
    signature: str                       # base64 Ed25519 signature of manifest.canonical_bytes()
    keyId: str                           # sha256 of the raw public key, first 16 hex digits


class DesiredState(Message):
    """Retained on `desired_topic` by the controller, signed as a whole (`signed_bytes`): whom it is
    for (device, board, fleet), its place in the controller's order (`sequence`, strictly increasing
    per controller, never reused), what to run and how to check it. `generation` counts the
    device's assignments, for reports; devices order desired states by `sequence` alone."""

    deviceId: DeviceId
    board: BoardClass                    # `Capabilities.board_class` of the device it is for
    fleet: str = Field(default="", max_length=253)
    generation: int = Field(ge=0, le=MAX_SEQUENCE)
    sequence: int = Field(ge=1, le=MAX_SEQUENCE)
    artifact: SignedManifest | None = None   # None: keep what runs
    # Where a device with HTTP may fetch the artifact (Range requests, resumable); signed with the rest.
    # The device still checks the manifest's size and sha256: the URL says where, never what.
    artifactUrl: ArtifactUrl | None = None
    chunkSize: int = Field(default=DEFAULT_CHUNK_SIZE, gt=0, le=MAX_CHUNK_SIZE)
    healthCheck: bool = True             # run a probe inference before confirming
    maxLatencyMs: float | None = Field(default=None, gt=0, le=3_600_000)
    issuedAt: float = Field(default_factory=now, ge=0, le=1e11)
    keyId: KeyId | None = None           # which controller key signed it
    signature: Signature | None = None   # base64 Ed25519 over `signed_bytes`; unsigned ones are ignored

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers, as a device computes them from the message it received."""
        return signed_bytes(self.model_dump(mode="json", exclude_none=True))


class KeyEndorsement(Message):
    """One controller key vouched for by another: `publicKey` signed by the key `signedBy`."""

    keyId: KeyId
    publicKey: RawPublicKey
    signedBy: KeyId
    issuedAt: float = Field(default_factory=now, ge=0, le=1e11)
    signature: Signature

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.model_dump(mode="json"))


class KeyAnnouncement(Message):
    """Retained on `keys_topic`: every rotation so far, oldest first. A device walks the chain and
    adds each key endorsed by one it already trusts, so it catches up after several rotations."""

    keys: list[KeyEndorsement] = Field(default_factory=list, max_length=MAX_ENDORSEMENTS)
    ts: Timestamp = Field(default_factory=now)


# --- reported state ---------------------------------------------------------------------------

class SlotState(Message):
    name: SlotName
    version: Name | None = None
    digest: Name | None = None
    installedAt: Timestamp | None = None


class InferenceStats(Message):
    count: Count = 0
    lastLatencyMs: float | None = Field(default=None, ge=0, le=1e9)
    meanLatencyMs: float | None = Field(default=None, ge=0, le=1e9)


UpdateOutcome = Literal["installed", "rolled-back", "rejected", "failed", "in-progress"]


class UpdateResult(Message):
    """What happened to the last desired artifact; `reason` says why when it did not install."""

    digest: Name
    version: Name
    outcome: UpdateOutcome
    reason: Text = ""
    bytesReceived: Count = 0
    ts: Timestamp = Field(default_factory=now)


class ReportedState(Message):
    """Retained on `state_topic`: what runs now. The controller waits for `modelDigest`."""

    deviceId: DeviceId
    firmwareVersion: Name                # agent version (Linux) or firmware version (MCU)
    activeSlot: SlotName | None = None
    slots: list[SlotState] = Field(default_factory=list, max_length=2)
    modelVersion: Name | None = None
    modelDigest: Name | None = None      # believed only when it is the digest the controller assigned
    health: Literal["ok", "degraded", "failed", "unknown"] = "unknown"
    healthReason: Text = ""
    observedGeneration: int = Field(default=-1, ge=-1, le=MAX_SEQUENCE)
    lastUpdate: UpdateResult | None = None
    inference: InferenceStats = Field(default_factory=InferenceStats)
    ts: Timestamp = Field(default_factory=now)


class Presence(Message):
    """Retained on `presence_topic`; the last will (`online=False`) is set at connect."""

    deviceId: DeviceId
    online: bool
    ts: Timestamp = Field(default_factory=now)


# --- events and samples -----------------------------------------------------------------------

class Event(Message):
    deviceId: DeviceId
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str = Field(min_length=1, max_length=128)   # CamelCase: "Installed", "SignatureInvalid" ...
    message: Text = ""
    digest: Name | None = None
    ts: Timestamp = Field(default_factory=now)


class Sample(Message):
    """One sensor window (schema only here; the collector stores it)."""

    deviceId: DeviceId
    sensor: str = Field(min_length=1, max_length=63)
    session: str | None = None
    label: str | None = None
    rateHz: float = Field(gt=0)
    shape: list[int] = Field(min_length=1)
    dtype: Literal["float32", "int16", "int8", "uint8"] = "float32"
    values: list[float]
    ts: float = Field(default_factory=now)


# --- chunked artifact transfer ----------------------------------------------------------------

class TransferRequest(Message):
    """Device asks for an artifact from `offset` (0, or the end of what it verified)."""

    digest: Sha256
    offset: int = Field(default=0, ge=0)
    chunkSize: int = Field(default=DEFAULT_CHUNK_SIZE, gt=0, le=MAX_CHUNK_SIZE)
    window: int = Field(default=DEFAULT_WINDOW, ge=1, le=64)
    have: list[int] = Field(default_factory=list, max_length=64)  # later chunks already held intact: skip them


class TransferOffer(Message):
    """Controller's answer: chunks of `chunkSize` follow from `offset`."""

    kind: Literal["offer"] = "offer"
    digest: Sha256
    size: int = Field(gt=0)
    offset: int = Field(ge=0)
    chunkSize: int = Field(gt=0)


class TransferRefused(Message):
    """Controller's answer when it cannot serve the artifact (unknown digest, bad request)."""

    kind: Literal["refused"] = "refused"
    digest: Sha256
    reason: str


OfferReply = Annotated[TransferOffer | TransferRefused, Field(discriminator="kind")]
OFFER_REPLY = TypeAdapter(OfferReply)


class ChunkAck(Message):
    """Per chunk: `ok` and the next offset wanted. A bad chunk: ok=False, resend from `nextOffset`."""

    digest: Sha256
    offset: int = Field(ge=0)
    nextOffset: int = Field(ge=0)
    ok: bool = True
    reason: str = ""


class Chunk(BaseModel):
    """One binary chunk: header fields plus the bytes; see `encode_chunk` for the layout."""

    model_config = ConfigDict(frozen=True)

    digest: Sha256                       # whole artifact
    offset: int = Field(ge=0)
    size: int = Field(gt=0)              # whole artifact size, so the first chunk alone says it
    chunkDigest: Sha256
    data: bytes

    @property
    def last(self) -> bool:
        return self.offset + len(self.data) >= self.size

    def intact(self) -> bool:
        return hashlib.sha256(self.data).hexdigest() == self.chunkDigest


# b"OGC1" | offset u64 | artifact size u64 | sha256(artifact) 32 | sha256(chunk) 32 | data
_CHUNK_HEADER = struct.Struct(">4sQQ32s32s")
CHUNK_MAGIC = b"OGC1"
CHUNK_HEADER_SIZE = _CHUNK_HEADER.size


def encode_chunk(digest: str, size: int, offset: int, data: bytes) -> bytes:
    return _CHUNK_HEADER.pack(CHUNK_MAGIC, offset, size, bytes.fromhex(digest),
                              hashlib.sha256(data).digest()) + data


def decode_chunk(payload: bytes) -> Chunk:
    """Parse a chunk; raises ValueError on a payload that is not one (the digest is checked by `intact`)."""
    if len(payload) < CHUNK_HEADER_SIZE:
        raise ValueError(f"chunk of {len(payload)} bytes is shorter than its {CHUNK_HEADER_SIZE}-byte header")
    magic, offset, size, whole, part = _CHUNK_HEADER.unpack_from(payload)
    if magic != CHUNK_MAGIC:
        raise ValueError(f"not an Origami chunk (magic {magic!r})")
    data = payload[CHUNK_HEADER_SIZE:]
    if not data:
        raise ValueError("empty chunk")
    return Chunk(digest=whole.hex(), offset=offset, size=size, chunkDigest=part.hex(), data=data)


# --- encoding ---------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    """Compact JSON; fields left at None are omitted to keep messages small."""
    return message.model_dump_json(exclude_none=True).encode("utf-8")


def decode(model: type[M], payload: bytes | str) -> M:
    """Parse one payload; raises pydantic.ValidationError (a ValueError) on a bad one."""
    return model.model_validate_json(payload)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# What each topic carries, for docs/protocol.md and for tools that decode traffic.
CHANNEL_MODELS: dict[str, Any] = {
    "hello": Hello,
    "state": ReportedState,
    "desired": DesiredState,
    "keys": KeyAnnouncement,
    "presence": Presence,
    "events": Event,
    "samples": Sample,
    "transfer/request": TransferRequest,
    "transfer/ack": ChunkAck,
    "transfer/offer": OfferReply,
    "transfer/chunk": Chunk,
}
