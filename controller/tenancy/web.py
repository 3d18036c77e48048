"""One dashboard server for several tenants: one `Dashboard` per tenant (its state store, artifact
store, metrics registry and reconcile loop), sharing the token store, the browser sessions, the
allowed host names and the bound on event streams. Every request is answered from the dashboard of
the tenant its token names (`controller.web.context.dashboard`), so a route, a page, an event stream
or `/metrics` never sees another tenant's objects; anonymous requests are refused, loopback or not."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.web.app import create_app
from controller.web.auth import TokenStore
from controller.web.context import Dashboard
from controller.web.hosts import HostPolicy
from controller.web.metrics import ControllerMetrics
from controller.web.streams import DEFAULT_MAX_STREAMS
from specs.errors import UsageError


@dataclass
class TenantBoard:
    """What the dashboard serves of one tenant."""

    tenant: str
    store: StateStore
    artifacts: ArtifactStore | None = None
    metrics: ControllerMetrics | None = None
    reconcile_now: Callable[[], None] | None = None


def create_tenant_app(boards: list[TenantBoard], *, tokens: TokenStore, hosts: HostPolicy | None = None,
                      max_streams: int = DEFAULT_MAX_STREAMS) -> FastAPI:
    if not boards or len({b.tenant for b in boards}) != len(boards):
        raise UsageError("the dashboard needs at least one tenant, each named once")
    first = boards[0]
    app = create_app(first.store, first.artifacts, first.metrics, tokens=tokens, require_read_auth=True,
                     hosts=hosts, max_streams=max_streams, reconcile_now=first.reconcile_now, tenant=first.tenant)
    shared: Dashboard = app.state.dashboard
    app.state.tenants = {first.tenant: shared}
    for board in boards[1:]:
        app.state.tenants[board.tenant] = Dashboard(
            board.store, board.artifacts, board.metrics or ControllerMetrics(board.store), tokens, True,
            sessions=shared.sessions, hosts=shared.hosts, streams=shared.streams, stream_idle=shared.stream_idle,
            reconcile_now=board.reconcile_now, tenant=board.tenant)
    return app
