"""Chunked, resumable artifact transfer, the controller's side: the sender (the device's receiver
is `device.download.ChunkReceiver`).

Flow (docs/protocol.md): the device sends `TransferRequest(digest, offset)`; the controller
answers `TransferOffer` and streams binary chunks from `offset`, keeping `window` chunks in
flight; the device acks each chunk (`ChunkAck.nextOffset`). A corrupt chunk is nacked and
only that chunk is sent again (the receiver keeps later intact chunks in memory); after a cut
the device asks again from the end of what it has verified on disk, so at most the chunk that
was being received when the link died crosses the link twice.

Neither side does network I/O here: the sender is given a `send(topic, payload)` function, the
receiver returns the ack to publish. Both are driven from one thread (paho's network thread).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import BinaryIO
from typing import Protocol

from specs.errors import OrigamiError
from specs.v1alpha1.protocol import ChunkAck
from specs.v1alpha1.protocol import TransferOffer
from specs.v1alpha1.protocol import TransferRefused
from specs.v1alpha1.protocol import TransferRequest
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import encode_chunk
from specs.v1alpha1.protocol import transfer_chunk_topic
from specs.v1alpha1.protocol import transfer_offer_topic
from wire.logs import get_logger

log = get_logger("devices.transfer")

Send = Callable[[str, bytes], None]
SESSION_IDLE_SECONDS = 120.0


class ArtifactSource(Protocol):
    """What the sender reads artifacts from: the ArtifactStore, or anything with `path(digest)`."""

    def path(self, digest: str) -> Path: ...


@dataclass
class TransferStats:
    """Per device and artifact: how many chunk bytes went out, and how many of them were repeats."""

    size: int
    sent_bytes: int = 0
    resent_bytes: int = 0
    requests: int = 0
    completed: bool = False
    sent_offsets: set[int] = field(default_factory=set)


@dataclass
class _Session:
    device_id: str
    digest: str
    size: int
    chunk_size: int
    window: int
    handle: BinaryIO
    stats: TransferStats
    next_offset: int = 0                  # next chunk never sent in this session
    in_flight: set[int] = field(default_factory=set)
    have: set[int] = field(default_factory=set)   # chunks the device already holds beyond next_offset
    touched: float = field(default_factory=time.monotonic)


class ArtifactSender:
    """Controller side: answers transfer requests and acks for many devices at once."""

    def __init__(self, source: ArtifactSource, send: Send) -> None:
        self._source = source
        self._send = send
        self._sessions: dict[str, _Session] = {}
        self.stats: dict[tuple[str, str], TransferStats] = {}

    def on_request(self, device_id: str, request: TransferRequest) -> None:
        self._expire()
        try:
            path = Path(self._source.path(request.digest))
            size = path.stat().st_size
        except (OrigamiError, OSError) as err:
            log.warning("transfer refused", extra={"device": device_id, "digest": request.digest, "reason": str(err)})
            self._send(transfer_offer_topic(device_id),
                       encode(TransferRefused(digest=request.digest, reason=f"artifact not available: {err}")))
            return
        if request.offset > size or request.offset % request.chunkSize and request.offset != size:
            self._send(transfer_offer_topic(device_id), encode(TransferRefused(
                digest=request.digest, reason=f"offset {request.offset} is not a chunk boundary below {size}")))
            return
        self._close(device_id)
        stats = self.stats.setdefault((device_id, request.digest), TransferStats(size=size))
        stats.requests += 1
        handle = open(path, "rb")  # noqa: SIM115  (closed with the session)
        session = _Session(device_id, request.digest, size, request.chunkSize, request.window, handle, stats,
                           next_offset=request.offset, have=set(request.have))
        self._sessions[device_id] = session
        self._send(transfer_offer_topic(device_id), encode(TransferOffer(
            digest=request.digest, size=size, offset=request.offset, chunkSize=request.chunkSize)))
        log.info("transfer started", extra={"device": device_id, "digest": request.digest[:12],
                                            "offset": request.offset, "size": size})
        self._fill(session)

    def on_ack(self, device_id: str, ack: ChunkAck) -> None:
        session = self._sessions.get(device_id)
        if session is None or session.digest != ack.digest:
            return
        session.touched = time.monotonic()
        session.in_flight.discard(ack.offset)
        if ack.nextOffset >= session.size:
            session.stats.completed = True
            self._close(device_id)
            log.info("transfer complete", extra={"device": device_id, "digest": ack.digest[:12],
                                                 "resent_bytes": session.stats.resent_bytes})
            return
        if not ack.ok and ack.nextOffset not in session.in_flight:
            # Selective repeat: only the chunk the device is missing; later intact ones are buffered there.
            self._send_chunk(session, ack.nextOffset)
        self._fill(session)

    def _fill(self, session: _Session) -> None:
        while len(session.in_flight) < session.window and session.next_offset < session.size:
            offset = session.next_offset
            session.next_offset += session.chunk_size
            if offset not in session.have:
                self._send_chunk(session, offset)

    def _send_chunk(self, session: _Session, offset: int) -> None:
        session.handle.seek(offset)
        data = session.handle.read(session.chunk_size)
        if not data:
            return
        if offset in session.stats.sent_offsets:  # also across sessions: a resume that repeats counts
            session.stats.resent_bytes += len(data)
        session.stats.sent_offsets.add(offset)
        session.stats.sent_bytes += len(data)
        session.in_flight.add(offset)
        self._send(transfer_chunk_topic(session.device_id), encode_chunk(session.digest, session.size, offset, data))

    def _close(self, device_id: str) -> None:
        session = self._sessions.pop(device_id, None)
        if session is not None:
            session.handle.close()

    def _expire(self) -> None:
        cutoff = time.monotonic() - SESSION_IDLE_SECONDS
        for device_id in [d for d, s in self._sessions.items() if s.touched < cutoff]:
            self._close(device_id)

    def close(self) -> None:
        for device_id in list(self._sessions):
            self._close(device_id)
