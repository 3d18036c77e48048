"""`origami reconcile --tenants FILE`: one controller process serving several tenants.

Each tenant gets the whole controller of its own, built from the parts a single-team controller
uses, none of them shared: its spec source, state (`STATE/tenants/NAME/`, events stamped with the
tenant), signing keys, artifact store and stage cache, build queue (`limits.parallelBuilds` workers:
a storm of one tenant's builds waits in that tenant's queue and never takes another's workers),
MQTT accounts in its device namespace (`controller-NAME`, `collector-NAME`, enrollment of its own
devices only, at most `limits.devices` of them), storage limit (`limits.storage`, checked before each
build) and reconcile loop on its own thread. One dashboard
serves them all, each request scoped to its token's tenant (controller.tenancy.web).
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.devices.accounts import load_accounts
from controller.devices.accounts import load_credentials
from controller.devices.enrollment import Enrollment
from controller.tenancy.config import Tenant
from controller.tenancy.config import load_tenants
from controller.tenancy.quota import StorageQuota
from specs.errors import OrigamiError
from specs.errors import UsageError
from wire.logs import get_logger
from wire.mqtt import BrokerConnection

log = get_logger("tenancy.runtime")
COUNT_REFRESH_S = 1.0


class DeviceCap:
    """The tenant's enrollment gate with its device limit: a device already known passes; a new one
    only while the tenant has fewer than `limit` devices (counted at most once a second)."""

    def __init__(self, enrolled: Any, store: Any, limit: int) -> None:
        self.enrolled, self.store, self.limit = enrolled, store, limit
        self._known: set[str] = set()
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, device_id: str) -> bool:
        if self.enrolled is not None and not self.enrolled(device_id):
            return False
        with self._lock:
            if time.monotonic() - self._checked >= COUNT_REFRESH_S:
                self._known = {d.device_id for d in self.store.devices()}
                self._checked = time.monotonic()
            if device_id in self._known:
                return True
            if len(self._known) >= self.limit:
                return False
            self._known.add(device_id)
            return True


def tenant_connections(broker: Any, tenant: str) -> tuple[BrokerConnection, BrokerConnection, Enrollment | None]:
    """The hub's and the collector's connections in `tenant`'s namespace, and its enrollment: with a
    broker registry, the tenant's own accounts and devices; on an open broker, the namespace only."""
    if broker.enrollment is None:
        return broker.hub.in_tenant(tenant), broker.collector.in_tenant(tenant), None
    registry = Path(broker.enrollment.directory)
    accounts, credentials = load_accounts(registry), load_credentials(registry)
    connections = []
    for account in (accounts.controller_of(tenant), accounts.collector_of(tenant)):
        if account not in credentials:
            raise UsageError(f"no broker account {account} for tenant {tenant}: run `origami broker config "
                             "--tenants FILE` with this tenants file")
        connections.append(broker.hub.as_user(account, credentials[account]).in_tenant(tenant))
    return connections[0], connections[1], Enrollment(registry, tenant=tenant)


@dataclass
class TenantController:
    tenant: Tenant
    store: Any
    builder: Any
    builds: Any
    hub: Any
    collection: Any
    reconciler: Any

    def stop(self) -> None:
        self.builds.stop()
        self.collection.stop()
        self.hub.stop()


def start_tenant(args, root: Path, tenant: Tenant, broker: Any, *, signer_passphrase: bytes | None,
                 progress: Any) -> TenantController:
    """Every part of one tenant's controller, started (the loop itself is run by `run_tenants`)."""
    from controller.cli.limits_option import limits_from_args
    from controller.cli.limits_option import repo_code_from_args
    from controller.cli.storage_flags import maintenance_settings
    from controller.collect.service import CollectionService
    from controller.devices.hub import DeviceHub
    from controller.devices.signing import Signer
    from controller.reconciler.build_queue import BuildQueue
    from controller.reconciler.loop import Reconciler
    from controller.reconciler.maintenance import Maintenance
    from controller.reconciler.sandbox import SandboxedBuilder
    from controller.reconciler.wiring import HubLink
    from controller.state import open_store

    state_dir = tenant.state_dir(root)
    state_dir.mkdir(parents=True, exist_ok=True)
    signer = Signer.load_or_create(state_dir, signer_passphrase)  # the tenant's own key set
    store = open_store(state_dir, tenant=tenant.name)
    limits = limits_from_args(args)
    builder = StorageQuota(SandboxedBuilder(state_dir, allow_repo_code=repo_code_from_args(args), limits=limits),
                           tenant.name, tenant.spec.limits.storage_bytes)
    builds = BuildQueue(workers=0 if args.once else tenant.spec.limits.parallelBuilds)
    hub_connection, collector_connection, enrollment = tenant_connections(broker, tenant.name)
    gate = DeviceCap(enrollment, store, tenant.spec.limits.devices)
    hub = DeviceHub(hub_connection, builder.store, enrolled=gate,
                    client_id=f"origami-controller-{tenant.name}").start()
    hub.announce_keys(signer.announcement())
    collection = CollectionService(collector_connection, store.path, builder.store, store=store,
                                   client_id=f"origami-collector-{tenant.name}", campaign_link=hub.link).start()
    reconciler = Reconciler(store, tenant_source(tenant, state_dir, args), builder, HubLink(hub), signer,
                            progress=progress, builds=builds, online_timeout=args.online_timeout, limits=limits,
                            maintenance=Maintenance(store, builder.store, builder.cache, maintenance_settings(args),
                                                    clock=time.time))
    reconciler.on_repository(lambda repo: collection.apply(repo, store.devices()))
    log.info("tenant started", extra={"tenant": tenant.name, "state": str(state_dir),
                                      "topics": tenant.topic_root, "builds": tenant.spec.limits.parallelBuilds})
    return TenantController(tenant, store, builder, builds, hub, collection, reconciler)


def tenant_source(tenant: Tenant, state_dir: Path, args) -> Any:
    source = tenant.spec.source
    if source.git:
        from controller.sources.git import GitSource

        return GitSource(source.git, state_dir / "source", branch=source.branch, path=source.path,
                         interval=args.interval)
    from controller.sources.local import LocalSource

    return LocalSource(source.path, workdir=state_dir / "source")


def run_tenants(args) -> int:
    """What `origami reconcile --tenants FILE` runs: every tenant's loop, one dashboard."""
    from controller.cli.broker_flags import open_controller_broker
    from controller.cli.keys import passphrase_from_args
    from controller.cli.reconcile import progress_line

    if args.path or args.git:
        raise UsageError("with --tenants, each tenant's specs come from the tenants file: give no PATH or --git")
    if args.state or args.replica:
        raise UsageError("--tenants runs on local state (STATE/tenants/NAME); replicas are not supported with it")
    tenants = load_tenants(args.tenants)
    root = Path(args.state_dir or ".")
    broker = open_controller_broker(args, root)
    print(f"origami: {broker.startup_line}; tenants {', '.join(t.name for t in tenants)}", file=sys.stderr)
    passphrase = passphrase_from_args(args)
    running: list[TenantController] = []
    server = None
    stop = threading.Event()
    results: dict[str, Any] = {}
    try:
        for tenant in tenants:
            running.append(start_tenant(args, root, tenant, broker, signer_passphrase=passphrase,
                                        progress=progress_line))
        if args.listen:
            server = start_tenant_dashboard(args, root, running)
        interval = args.interval if any(t.spec.source.git for t in tenants) else 2.0

        def loop(part: TenantController) -> None:
            results[part.tenant.name] = part.reconciler.run(stop, interval=interval, once=args.once)
        threads = [threading.Thread(target=loop, args=(part,), name=f"reconcile-{part.tenant.name}", daemon=True)
                   for part in running]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        return 130
    finally:
        stop.set()
        if server is not None:
            server.stop()
        for part in running:
            try:
                part.stop()
            except OrigamiError as err:
                log.warning("tenant did not stop cleanly", extra={"tenant": part.tenant.name, "error": str(err)})
        broker.stop()
    ready = {f"{name}/{fleet}": ok for name, result in sorted(results.items()) for fleet, ok in result.ready.items()}
    print(", ".join(f"{f} {'Ready' if ok else 'not ready'}" for f, ok in sorted(ready.items())) or "no fleets")
    return 0 if len(results) == len(running) and all(ready.values()) else 3


def start_tenant_dashboard(args, root: Path, running: list[TenantController]) -> Any:
    from controller.cli.listen_flags import listen_options
    from controller.tenancy.web import TenantBoard
    from controller.tenancy.web import create_tenant_app
    from controller.web.auth import hand_over_first_token
    from controller.web.hosts import HostPolicy
    from controller.web.metrics import ControllerMetrics
    from controller.web.metrics import wire_metrics
    from controller.web.server import DashboardServer
    from controller.web.server import parse_listen

    options = listen_options(args)
    host, port = parse_listen(args.listen)
    tokens, first = hand_over_first_token(root)
    boards = []
    for part in running:
        metrics = ControllerMetrics(part.store)
        wire_metrics(metrics, reconciler=part.reconciler, builder=part.builder, hub=part.hub,
                     collection=part.collection)
        boards.append(TenantBoard(part.tenant.name, part.store, part.builder.store, metrics, part.reconciler.wake))
    if options["webhook_secret_file"]:
        raise UsageError("--webhook-secret-file is not served with --tenants yet: each tenant's git poll runs instead")
    app = create_tenant_app(boards, tokens=tokens, hosts=HostPolicy.for_listen(host, options["allowed_hosts"]),
                            **({"max_streams": options["max_streams"]} if options["max_streams"] else {}))
    server = DashboardServer(app, host, port).start()
    print(f"origami: dashboard on {server.url} for tenants {', '.join(b.tenant for b in boards)}; every request "
          "needs a token, which names its tenant", file=sys.stderr)
    if first:
        print(f"origami: the first token (operator of tenant default) is in {first} (mode 0600); give each team "
              "its own with `origami operator-token --tenant NAME --role admin`", file=sys.stderr)
    return server
