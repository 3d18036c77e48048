"""Chunked, resumable artifact transfer: the controller's sender and the device's receiver.

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

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Protocol

from controller.errors import OrigamiError, SignatureError
from controller.logs import get_logger
from specs.v1alpha1.protocol import (
    Chunk,
    ChunkAck,
    TransferOffer,
    TransferRefused,
    TransferRequest,
    encode,
    encode_chunk,
    transfer_chunk_topic,
    transfer_offer_topic,
)

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
        session = _Session(device_id, request.digest, size, request.chunkSize, request.window,
                           open(path, "rb"), stats, next_offset=request.offset, have=set(request.have))
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


class ChunkReceiver:
    """Device side: writes verified chunks in order to `<dir>/<digest>.part`, which survives restarts.

    The part file only ever holds bytes whose chunk digest matched, so its length (rounded down
    to a chunk boundary, in case a write was cut) is the last good offset to resume from.
    """

    def __init__(self, directory: Path, digest: str, size: int, chunk_size: int, buffer_chunks: int = 8) -> None:
        self.digest, self.size, self.chunk_size = digest, size, chunk_size
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.part = self.directory / f"{digest}.part"
        self.final = self.directory / f"{digest}.bin"
        self._buffer: dict[int, bytes] = {}
        self._buffer_chunks = buffer_chunks
        self.received_bytes = 0           # every chunk byte that arrived, repeats included
        self.duplicate_bytes = 0          # bytes that arrived again for a range already verified
        self._seen_end = 0
        if self.part.exists():
            good = (self.part.stat().st_size // chunk_size) * chunk_size
            with open(self.part, "r+b") as handle:
                handle.truncate(min(good, size))
        self._seen_end = self.offset

    @property
    def offset(self) -> int:
        """Bytes verified on disk: where a resumed transfer starts."""
        if self.final.exists():
            return self.size
        return self.part.stat().st_size if self.part.exists() else 0

    @property
    def held(self) -> list[int]:
        """Offsets of intact chunks beyond `offset`, waiting for a gap to fill (sent in a resume)."""
        return sorted(self._buffer)

    @property
    def complete(self) -> bool:
        return self.final.exists()

    def accept(self, chunk: Chunk) -> ChunkAck:
        """Take one chunk; returns the ack to send. Completion is `complete` (whole digest checked)."""
        offset = self.offset
        self.received_bytes += len(chunk.data)
        if chunk.offset < self._seen_end:
            self.duplicate_bytes += min(len(chunk.data), self._seen_end - chunk.offset)
        self._seen_end = max(self._seen_end, chunk.offset + len(chunk.data))
        if chunk.digest != self.digest or chunk.size != self.size:
            return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=offset, ok=False,
                            reason="chunk belongs to another artifact")
        if not chunk.intact():
            self._seen_end = min(self._seen_end, chunk.offset)  # a corrupt chunk was not really received
            return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=offset, ok=False,
                            reason="chunk digest mismatch")
        if chunk.offset < offset:
            return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=offset)
        if chunk.offset > offset:  # after a bad chunk: keep it until the gap is filled
            if len(self._buffer) < self._buffer_chunks:
                self._buffer[chunk.offset] = chunk.data
                return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=offset)
            return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=offset, ok=False,
                            reason=f"missing bytes from {offset}")
        with open(self.part, "ab") as handle:
            handle.write(chunk.data)
            offset += len(chunk.data)
            while offset in self._buffer:
                data = self._buffer.pop(offset)
                handle.write(data)
                offset += len(data)
            handle.flush()
            if offset >= self.size:
                os.fsync(handle.fileno())
        if offset >= self.size:
            self._finish()
        return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=min(offset, self.size))

    def _finish(self) -> None:
        """Whole-artifact digest: a mismatch means the sender's copy is not what was asked for."""
        hasher = hashlib.sha256()
        with open(self.part, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        if hasher.hexdigest() != self.digest or self.part.stat().st_size != self.size:
            self.discard()
            raise TransferCorrupt(f"artifact {self.digest[:12]} arrived with sha256 {hasher.hexdigest()[:12]}: "
                                  "the sender's copy is corrupt; it was discarded")
        os.replace(self.part, self.final)

    def discard(self) -> None:
        for path in (self.part, self.final):
            path.unlink(missing_ok=True)
        self._buffer.clear()


class TransferCorrupt(SignatureError):
    """The whole artifact did not match its digest although every chunk did."""
