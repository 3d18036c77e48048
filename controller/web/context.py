"""What every request handler needs (the stores, metrics, tokens, sessions): one `Dashboard` per
app, at `app.state.dashboard`, and the FastAPI dependency that hands it to a route."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from fastapi import Request

from controller.collect.index import SampleIndex
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.web.auth import SESSION_COOKIE
from controller.web.auth import Sessions
from controller.web.auth import TokenStore
from controller.web.hosts import HostPolicy
from controller.web.metrics import ControllerMetrics
from controller.web.streams import DEFAULT_IDLE_SECONDS
from controller.web.streams import StreamSlots


@dataclass
class Dashboard:
    """What every request handler needs; one per app, at `app.state.dashboard`."""

    store: StateStore
    artifacts: ArtifactStore | None
    metrics: ControllerMetrics
    tokens: TokenStore
    require_read_auth: bool = False
    sessions: Sessions = field(default_factory=Sessions)
    hosts: HostPolicy = field(default_factory=HostPolicy)  # the Host names we answer (loopback by default)
    streams: StreamSlots = field(default_factory=StreamSlots)  # server-sent-event streams open at once
    stream_idle: float = DEFAULT_IDLE_SECONDS  # a stream with no new event for this long ends
    stream_poll: float = 0.5  # seconds between event-trail polls of a server-sent-events stream
    samples: SampleIndex | None = None  # the collector's index; opened on the state file when first needed
    reconcile_now: Callable[[], None] | None = None  # wakes the reconcile loop (None: no loop in this process)
    webhook_secret: bytes | None = None  # the git webhook's HMAC secret (None: no webhook)
    _samples_lock: threading.Lock = field(default_factory=threading.Lock)

    def sample_index(self) -> SampleIndex:
        with self._samples_lock:
            if self.samples is None:
                self.samples = SampleIndex(self.store.path)
            return self.samples

    def operator(self, request: Request) -> str | None:
        """The operator behind a request: a bearer token, or a session cookie (name), else None."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return self.tokens.verify(header[7:].strip())
        return self.sessions.who(request.cookies.get(SESSION_COOKIE))


def dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard
