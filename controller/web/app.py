"""The dashboard's web application: the JSON API, the pages and `/metrics`, on one FastAPI app.

    app = create_app(store, artifacts, metrics, tokens=tokens, require_read_auth=False, samples=index,
                     hosts=HostPolicy.for_listen("127.0.0.1"), max_streams=32)

Reads go straight to the state store (no cache of our own: it is the truth, and SQLite in WAL mode
reads while the loop writes). Every action needs an operator token; when the server is bound to a
non-loopback address (`require_read_auth`), every request does. Before any of that, a request must
name one of our hosts (`hosts`: DNS rebinding), and a state-changing one must not come from another
site's page (`Origin`).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.responses import PlainTextResponse
from fastapi.responses import RedirectResponse
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import generate_latest

from controller.collect.index import SampleIndex
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.tenancy import tokens_api
from controller.tenancy.roles import DEFAULT_TENANT
from controller.web import api
from controller.web import pages
from controller.web import records_api
from controller.web import triggers
from controller.web.auth import TokenStore
from controller.web.context import Dashboard
from controller.web.context import dashboard
from controller.web.hosts import SAFE_METHODS
from controller.web.hosts import HostPolicy
from controller.web.hosts import origin_matches
from controller.web.metrics import ControllerMetrics
from controller.web.streams import DEFAULT_IDLE_SECONDS
from controller.web.streams import DEFAULT_MAX_STREAMS
from controller.web.streams import StreamSlots
from wire import __version__

HERE = Path(__file__).parent
OPEN_PATHS = ("/login", "/static/")
OPEN_EXACT = (triggers.HOOK_PATH,)  # the webhook's credential is its signature


def create_app(store: StateStore, artifacts: ArtifactStore | None = None, metrics: ControllerMetrics | None = None,
               *, tokens: TokenStore, require_read_auth: bool = False, samples: SampleIndex | None = None,
               hosts: HostPolicy | None = None, max_streams: int = DEFAULT_MAX_STREAMS,
               stream_idle: float = DEFAULT_IDLE_SECONDS, reconcile_now: Callable[[], None] | None = None,
               webhook_secret: bytes | None = None, tenant: str = DEFAULT_TENANT) -> FastAPI:
    app = FastAPI(title="Origami controller API", version=__version__,
                  description="Status of datasets, models, fleets, rollouts and devices; operator actions "
                              "(need `Authorization: Bearer <operator token>`).",
                  docs_url="/api/docs", redoc_url=None)
    app.state.dashboard = Dashboard(store, artifacts, metrics or ControllerMetrics(store), tokens, require_read_auth,
                                    samples=samples, hosts=hosts or HostPolicy(), streams=StreamSlots(max_streams),
                                    stream_idle=stream_idle, reconcile_now=reconcile_now,
                                    webhook_secret=webhook_secret, tenant=tenant)
    app.include_router(api.router)
    app.include_router(records_api.router)
    app.include_router(triggers.router)
    app.include_router(pages.router)
    app.include_router(tokens_api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        return Response(generate_latest(dashboard(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def reads_need_a_token_off_loopback(request: Request, call_next):
        board: Dashboard = request.app.state.dashboard
        path = request.url.path
        if board.require_read_auth and not path.startswith(OPEN_PATHS) and path not in OPEN_EXACT and \
                board.operator(request) is None:
            if path.startswith("/api/") or path in ("/metrics", "/openapi.json"):
                return JSONResponse({"detail": "this server is reachable off loopback: send "
                                     "`Authorization: Bearer <operator token>`"}, status_code=401)
            return RedirectResponse(f"/login?next={path}", status_code=303)
        return await call_next(request)

    # Added last, so it runs first: nothing else looks at a request for a host that is not ours.
    @app.middleware("http")
    async def only_our_hosts_and_origins(request: Request, call_next):
        board: Dashboard = request.app.state.dashboard
        host = request.headers.get("host")
        if not board.hosts.allows(host):
            return _refused(request, 421 if host else 400,
                            "this server does not answer to that Host name; an operator can add it with "
                            "`origami reconcile --allowed-host NAME`" if host else "a request needs a Host header")
        if request.method not in SAFE_METHODS and not origin_matches(request.headers.get("origin"), host):
            return _refused(request, 403, "cross-site request refused: the Origin is not this server")
        return await call_next(request)

    return app


def _refused(request: Request, status: int, detail: str) -> Response:
    if request.scope["path"].startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status)
    return PlainTextResponse(detail + "\n", status_code=status)
