"""The dashboard's web application: the JSON API, the pages and `/metrics`, on one FastAPI app.

    app = create_app(store, artifacts, metrics, tokens=tokens, require_read_auth=False, samples=index)

Reads go straight to the state store (no cache of our own: it is the truth, and SQLite in WAL mode
reads while the loop writes). Every action needs an operator token; when the server is bound to a
non-loopback address (`require_read_auth`), every request does.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controller import __version__
from controller.collect.index import SampleIndex
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.web.auth import SESSION_COOKIE, Sessions, TokenStore
from controller.web.metrics import ControllerMetrics

HERE = Path(__file__).parent
OPEN_PATHS = ("/login", "/static/")


@dataclass
class Dashboard:
    """What every request handler needs; one per app, at `app.state.dashboard`."""

    store: StateStore
    artifacts: ArtifactStore | None
    metrics: ControllerMetrics
    tokens: TokenStore
    require_read_auth: bool = False
    sessions: Sessions = field(default_factory=Sessions)
    stream_poll: float = 0.5  # seconds between event-trail polls of a server-sent-events stream
    samples: SampleIndex | None = None  # the collector's index; opened on the state file when first needed
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


def create_app(store: StateStore, artifacts: ArtifactStore | None = None, metrics: ControllerMetrics | None = None,
               *, tokens: TokenStore, require_read_auth: bool = False, samples: SampleIndex | None = None) -> FastAPI:
    from controller.web import api, pages

    app = FastAPI(title="Origami controller API", version=__version__,
                  description="Status of datasets, models, fleets, rollouts and devices; operator actions "
                              "(need `Authorization: Bearer <operator token>`).",
                  docs_url="/api/docs", redoc_url=None)
    app.state.dashboard = Dashboard(store, artifacts, metrics or ControllerMetrics(store), tokens, require_read_auth,
                                    samples=samples)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        return Response(generate_latest(dashboard(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def reads_need_a_token_off_loopback(request: Request, call_next):
        board: Dashboard = request.app.state.dashboard
        path = request.url.path
        if board.require_read_auth and not path.startswith(OPEN_PATHS) and board.operator(request) is None:
            if path.startswith("/api/") or path in ("/metrics", "/openapi.json"):
                return JSONResponse({"detail": "this server is reachable off loopback: send "
                                     "`Authorization: Bearer <operator token>`"}, status_code=401)
            return RedirectResponse(f"/login?next={path}", status_code=303)
        return await call_next(request)

    return app
