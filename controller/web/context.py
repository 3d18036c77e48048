"""What every request handler needs (the stores, metrics, tokens, sessions): one `Dashboard` per
tenant (the app's own at `app.state.dashboard`; with several tenants, each at `app.state.tenants`),
and the FastAPI dependency that hands a route the caller's tenant's."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from fastapi import HTTPException
from fastapi import Request

from controller.collect.index import SampleIndex
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.tenancy.roles import DEFAULT_TENANT
from controller.tenancy.roles import Principal
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
    tenant: str = DEFAULT_TENANT  # whose objects this dashboard shows
    _samples_lock: threading.Lock = field(default_factory=threading.Lock)

    def sample_index(self) -> SampleIndex:
        with self._samples_lock:
            if self.samples is None:
                self.samples = SampleIndex(self.store.path)
            return self.samples

    def operator(self, request: Request) -> str | None:
        """The operator behind a request: a bearer token, or a session cookie (name), else None."""
        who = self.principal(request)
        return who.name if who else None

    def principal(self, request: Request) -> Principal | None:
        """Who is behind a request (name, tenant, role): a bearer token, or a session cookie, else None."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return self.tokens.principal(header[7:].strip())
        return self.sessions.holder(request.cookies.get(SESSION_COOKIE))

    def actor(self, request: Request, form_token: str | None = None) -> Principal | None:
        """Who acts through a dashboard form: the token typed into it, else the session's holder."""
        return self.tokens.principal(form_token) if form_token else self.principal(request)

    def refusal(self, who: Principal | None, what: str) -> tuple[int, str] | None:
        """Why `who` may not do `what` here (status, reason), or None when it may: a token, of this
        dashboard's tenant, with at least the operator role."""
        if who is None:
            return 401, f"{what}: these need a valid operator token"
        if who.tenant != self.tenant:
            return 403, f"the token of {who.name} is for tenant {who.tenant}; these objects are not its tenant's"
        if not who.may("operator"):
            return 403, who.refusal("operator", what)
        return None


TENANT_HEADER = "x-origami-tenant"  # the tenant a client means (`--tenant`): refused unless it is its token's


def dashboard(request: Request) -> Dashboard:
    """The dashboard of the caller's tenant. A token of a tenant this app does not serve is refused
    (403), so is a request naming (X-Origami-Tenant) another tenant than its token's, and an anonymous
    read of a controller with several tenants (401: whose objects?)."""
    board: Dashboard = request.app.state.dashboard
    tenants: dict[str, Dashboard] | None = getattr(request.app.state, "tenants", None)
    who = board.principal(request)
    wanted = request.headers.get(TENANT_HEADER)
    if who is None:
        if tenants:
            raise HTTPException(401, "this controller serves several tenants: send `Authorization: Bearer "
                                     "<token>`; the token names the tenant")
        if wanted is not None and wanted != board.tenant:
            raise HTTPException(403, f"this controller serves tenant {board.tenant} only")
        return board
    if wanted is not None and wanted != who.tenant:
        raise HTTPException(403, f"the token of {who.name} is for tenant {who.tenant}; it cannot read or act on "
                                 f"tenant {wanted[:32]}'s objects")
    if who.tenant == board.tenant:
        return board
    if tenants and who.tenant in tenants:
        return tenants[who.tenant]
    raise HTTPException(403, f"the token of {who.name} is for tenant {who.tenant}, which this controller does "
                             "not serve")


def shared(request: Request) -> Dashboard:
    """The app's own dashboard, whatever the caller's tenant: for what every tenant shares (the token
    store and the sessions of `/login` and `/logout`), never for objects."""
    return request.app.state.dashboard
