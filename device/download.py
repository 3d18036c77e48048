"""Chunked, resumable artifact transfer, the device's side: verified chunks to disk, resumable.

The controller's sender is `controller.devices.transfer.ArtifactSender`; the flow is in
docs/protocol.md. No network I/O here: `accept` returns the ack the caller publishes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from specs.errors import SignatureError
from specs.v1alpha1.protocol import Chunk
from specs.v1alpha1.protocol import ChunkAck


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
            self.finish()
        return ChunkAck(digest=self.digest, offset=chunk.offset, nextOffset=min(offset, self.size))

    def finish(self) -> None:
        """Whole-artifact digest, once the part holds `size` bytes (by chunks or over HTTP): a mismatch
        means the sender's copy is not what was asked for; the part is discarded."""
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
