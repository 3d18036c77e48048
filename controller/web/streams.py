"""Bounds on the server-sent-event streams: how many are open at once, and what a reconnecting
client may say about where it left off.

Each stream holds a connection and polls the state store; a thousand clients opening one each
would take every worker thread and file descriptor. Beyond `limit` open streams a new one is
answered 503 with Retry-After (a browser's EventSource retries by itself), and a stream with no
new event for `idle` seconds ends (the client resumes from its Last-Event-ID).
"""
from __future__ import annotations

import threading

from specs.errors import UsageError

DEFAULT_MAX_STREAMS = 32
DEFAULT_IDLE_SECONDS = 300.0
RETRY_AFTER_SECONDS = 5
MAX_SEQ = 2 ** 62  # SQLite integers are 64-bit signed
MAX_EVENT_ID_CHARS = 20


class StreamSlots:
    """At most `limit` streams at once. Thread-safe."""

    def __init__(self, limit: int = DEFAULT_MAX_STREAMS) -> None:
        if limit < 1:
            raise UsageError("--max-streams must be at least 1")
        self.limit = limit
        self._lock = threading.Lock()
        self._open = 0

    @property
    def open(self) -> int:
        return self._open

    def take(self) -> Slot | None:
        """A slot, or None when `limit` streams are open."""
        with self._lock:
            if self._open >= self.limit:
                return None
            self._open += 1
        return Slot(self)

    def _give_back(self) -> None:
        with self._lock:
            self._open -= 1


class Slot:
    """One open stream's place. Released exactly once: when the stream ends, or, if it never
    started (the client left before the first byte), when the stream is garbage-collected."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._give_back()

    def __del__(self) -> None:
        self.release()


def last_event_id(header: str | None) -> int | None:
    """The sequence number of a `Last-Event-ID` header, None without one; UsageError for anything
    but a number we could have sent (ASCII digits, at most 20 of them, within SQLite's range)."""
    if header is None or header == "":
        return None
    if len(header) > MAX_EVENT_ID_CHARS or not (header.isascii() and header.isdigit()) or int(header) > MAX_SEQ:
        raise UsageError("Last-Event-ID must be the id of an event this server sent (a sequence number)")
    return int(header)
