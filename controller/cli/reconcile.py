"""`origami reconcile [PATH|--git URL]`: the controller. Passes until interrupted, or one with --once.
`origami reconcile now --server URL`: ask a running controller for a pass now (fetch and apply the
specs without waiting for the git poll); a spec directory named `now` is `./now`."""
from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from pathlib import Path

from controller.cli.broker_flags import add_broker_flags
from controller.cli.broker_flags import open_controller_broker
from controller.cli.controller_api import add_server_flags
from controller.cli.controller_api import client_from_args
from controller.cli.keys import add_passphrase_flag
from controller.cli.keys import passphrase_from_args
from controller.cli.limits_option import add_limits_option
from controller.cli.limits_option import add_repo_code_option
from controller.cli.limits_option import limits_from_args
from controller.cli.limits_option import repo_code_from_args
from controller.cli.listen_flags import add_listen_flags
from controller.cli.listen_flags import listen_options
from controller.cli.output import add_state_flag
from controller.cli.storage_flags import add_gc_flags
from controller.cli.storage_flags import maintenance_settings
from controller.reconciler.shards import LEASE_S
from controller.reconciler.shards import Shards
from controller.state import STATE_URL_ENV
from controller.state import open_store
from specs.errors import OrigamiError
from specs.errors import UsageError
from wire.logs import get_logger
from wire.mqtt import DEFAULT_SHARE_GROUP
from wire.text import printable

log = get_logger("cli.reconcile")


def register(subparsers) -> None:
    p = subparsers.add_parser("reconcile", help="run the controller: from specs to a converged fleet")
    p.add_argument("path", nargs="?", default=None,
                   help="local spec directory (watched), unless --git; `now` asks the --server controller for a pass")
    p.add_argument("--git", default=None, help="git URL of the spec repository")
    p.add_argument("--branch", default="main")
    p.add_argument("--path", dest="subpath", default="", help="directory inside the git repository")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between git fetches (default 30)")
    p.add_argument("--once", action="store_true",
                   help="one pass, builds included, then exit (0: every fleet Ready)")
    p.add_argument("--build-workers", type=int, default=1, metavar="N",
                   help="builds running at once, off the loop's thread (default 1)")
    p.add_argument("--build-engine", default=os.environ.get("ORIGAMI_BUILD_ENGINE"), metavar="tcp://HOST:PORT",
                   help="run each model build as a job on this Dask scheduler's workers, which must see --state-dir "
                        "at the same path (docs/scale.md, \"Build engine\"; env ORIGAMI_BUILD_ENGINE; default: on "
                        "this host)")
    p.add_argument("--online-timeout", type=float, default=180.0, metavar="SECONDS",
                   help="a device silent for this long is offline (default 180; devices report every 60 s)")
    add_broker_flags(p, default_url=None, registry=True)
    add_listen_flags(p)
    add_state_flag(p)
    p.add_argument("--replica", default=None, metavar="NAME",
                   help="run as one of several controller replicas sharing the state (--state postgresql://...): "
                        "fleets and builds are claimed with leases (default with --state: HOST-PID)")
    p.add_argument("--lease", type=float, default=LEASE_S, metavar="SECONDS",
                   help=f"replicas: lease period; a dead replica's fleets move to another within it (default "
                        f"{LEASE_S:.0f})")
    p.add_argument("--share-group", default=None, metavar="NAME",
                   help="replicas: consume device reports, transfer requests and samples through MQTT 5 shared "
                        "subscriptions ($share/NAME/...), one replica per message (default with --replica and an "
                        f"external broker: {DEFAULT_SHARE_GROUP}; `off`: every replica hears everything; "
                        "docs/scale.md)")
    p.add_argument("--artifact-publish-dir", default=None, metavar="DIR",
                   help="also publish artifacts into DIR, served by a static HTTP server (nginx, a CDN origin) as "
                        "--artifact-base-url: devices with HTTP fetch them there with Range requests (docs/scale.md)")
    p.add_argument("--artifact-base-url", default=None, metavar="URL",
                   help="the URL DIR is served under (http:// or https://); desired states name URL/SHA256")
    add_passphrase_flag(p)
    add_gc_flags(p, loop=True)
    add_limits_option(p)
    add_repo_code_option(p)
    p.add_argument("--notifications", default=os.environ.get("ORIGAMI_NOTIFICATIONS"), metavar="FILE",
                   help="send commit and rollout notifications to the webhooks, Slack channels and GitHub commit "
                        "statuses this YAML file lists (docs/ci.md; env ORIGAMI_NOTIFICATIONS)")
    p.add_argument("--tenants", default=os.environ.get("ORIGAMI_TENANTS"), metavar="FILE",
                   help="serve several teams from this controller: each tenant's specs, devices, keys, artifacts "
                        "and limits from this YAML file (docs/tenancy.md; env ORIGAMI_TENANTS)")
    add_server_flags(p)
    p.set_defaults(func=run)


def progress_line(what: str, fraction: float) -> None:
    """Long work shows progress: one line per step, rewritten in place on a terminal."""
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"  .. {what[:100]:<100}", end=end, file=sys.stderr, flush=True)


def replica_name(args) -> str | None:
    """This process's replica id, or None when it runs alone (SQLite state and no --replica)."""
    if args.replica:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", args.replica):
            raise UsageError("--replica takes a name of letters, digits, '.', '_' and '-' (at most 63)")
        return str(args.replica)
    if args.state or os.environ.get(STATE_URL_ENV):
        return f"{socket.gethostname()}-{os.getpid()}"
    return None


def share_group(args, replica: str | None, external_broker: bool) -> str | None:
    """The MQTT 5 share group this process consumes device messages in, or None (every message).
    Shared by default only among replicas on an external broker: a lone controller has nobody to
    share with, and the embedded broker does not implement shared subscriptions."""
    if args.share_group == "off" or (args.share_group is None and not (replica and external_broker)):
        return None
    if not external_broker:
        raise UsageError("--share-group needs an external MQTT 5 broker (--broker): the embedded one has no "
                         "shared subscriptions")
    return str(args.share_group or DEFAULT_SHARE_GROUP)


def make_publisher(args, store):
    """The artifact publisher `--artifact-publish-dir DIR --artifact-base-url URL` configure, or None."""
    if bool(args.artifact_publish_dir) != bool(args.artifact_base_url):
        raise UsageError("--artifact-publish-dir and --artifact-base-url go together: the directory a static "
                         "server serves, and the URL it serves it under")
    if not args.artifact_publish_dir:
        return None
    from controller.store.publish import DirectoryPublisher

    return DirectoryPublisher(args.artifact_publish_dir, args.artifact_base_url, store)


def make_builder(args, state_dir: Path, limits, public_key):
    """The builder: the build worker on this host, or on a Dask cluster with --build-engine."""
    from controller.reconciler.sandbox import SandboxedBuilder

    options = {"allow_repo_code": repo_code_from_args(args), "limits": limits, "public_key": public_key}
    if not args.build_engine:
        return SandboxedBuilder(state_dir, **options)
    from controller.reconciler.build_engine_dask import DaskBuilder
    from controller.reconciler.build_engine_dask import DaskEngine

    return DaskBuilder(state_dir, DaskEngine(args.build_engine), **options)


def make_source(args, state_dir: Path, replica: str | None = None):
    if args.git and args.path:
        raise UsageError("give either PATH or --git URL, not both")
    workdir = state_dir / "replicas" / replica / "source" if replica else state_dir / "source"  # one checkout each
    if args.git:
        from controller.sources.git import GitSource

        return GitSource(args.git, workdir, branch=args.branch, path=args.subpath,
                         interval=args.interval)
    from controller.sources.local import LocalSource

    return LocalSource(args.path or ".", workdir=workdir)


def request_pass(args) -> int:
    """`origami reconcile now`: POST /api/v1/reconcile with the operator token; the loop runs a pass at once."""
    if not args.server:
        raise UsageError("`origami reconcile now` asks a running controller: give --server URL (or ORIGAMI_SERVER) "
                         "and --token-file FILE")
    done = client_from_args(args, acting=True).post("reconcile")
    print(f"reconcile requested by {printable(done.get('by', '?'))} (event #{done.get('event', '?')}); "
          "the controller fetches and applies the specs now")
    return 0


def run(args) -> int:
    if args.path == "now":
        return request_pass(args)
    if args.tenants:
        if args.build_engine:
            raise UsageError("--build-engine does not serve --tenants yet: each tenant builds on this host")
        from controller.tenancy.runtime import run_tenants

        return run_tenants(args)
    if args.build_engine:  # a wrong address stops the start before a key or database is made
        from controller.reconciler.build_engine_dask import check_address

        check_address(args.build_engine)
    if args.webhook_secret_file and not args.listen:
        raise UsageError("--webhook-secret-file needs --listen HOST:PORT (the webhook is served by the API)")
    from controller.collect.service import CollectionService
    from controller.devices.hub import DeviceHub
    from controller.devices.signing import Signer
    from controller.reconciler.build_engine_dask import DaskBuilder
    from controller.reconciler.build_queue import BuildQueue
    from controller.reconciler.loop import Reconciler
    from controller.reconciler.maintenance import Maintenance
    from controller.reconciler.wiring import HubLink

    state_dir = Path(args.state_dir or ".")
    sinks = None
    if args.notifications:  # a bad file stops the start before anything runs
        from controller.notifications.config import load_sinks

        sinks = load_sinks(args.notifications)
    signer = Signer.load_or_create(state_dir, passphrase_from_args(args))  # a wrong passphrase fails first
    store = open_store(state_dir, url=args.state)
    replica = replica_name(args)
    if replica and args.lease <= 0:
        raise UsageError("--lease must be a positive number of seconds")
    shards = Shards(store, replica, period=args.lease) if replica else None
    source = make_source(args, state_dir, replica)
    limits = limits_from_args(args)
    builder = make_builder(args, state_dir, limits, signer.public_key)
    publisher = make_publisher(args, builder.store)
    if args.build_workers < 1:
        raise UsageError("--build-workers must be at least 1")
    builds = BuildQueue(workers=0 if args.once else args.build_workers)
    broker = open_controller_broker(args, state_dir)
    print(f"origami: {broker.startup_line}", file=sys.stderr)
    suffix = f"-{replica}" if replica else ""  # replicas share a broker: one MQTT client id each
    group = share_group(args, replica, broker.embedded is None)
    hub = DeviceHub(broker.hub, builder.store, enrolled=broker.enrollment,
                    client_id=f"origami-controller{suffix}", share_group=group).start()
    hub.announce_keys(signer.announcement())  # a rotation made while stopped reaches the devices now
    # Samples from the fleet: ingested as they arrive; datasets and campaigns follow each pass's specs.
    collection = CollectionService(broker.collector, store.path, builder.store, store=store,
                                   client_id=f"origami-collector{suffix}", campaign_link=hub.link,
                                   share_group=group).start()
    reconciler = Reconciler(store, source, builder, HubLink(hub), signer,
                            progress=progress_line, builds=builds, online_timeout=args.online_timeout,
                            limits=limits, maintenance=Maintenance(store, builder.store, builder.cache,
                                                                   maintenance_settings(args), clock=time.time),
                            shards=shards, publisher=publisher)
    reconciler.on_repository(lambda repo: collection.apply(repo, store.devices()))
    stop = threading.Event()
    dashboard = notifier = None
    try:
        if sinks:
            from controller.notifications.notifier import Notifier

            notifier = Notifier(store.path, sinks).start()
        if args.listen:
            from controller.web.server import start_dashboard

            dashboard = start_dashboard(args.listen, state_dir, store, builder, reconciler, hub, collection=collection,
                                        **listen_options(args))
        interval = args.interval if args.git else 2.0
        if shards:  # a pass renews the leases: at least three passes per lease period
            interval = min(interval, args.lease / 3)
        result = reconciler.run(stop, interval=interval, once=args.once)
    except KeyboardInterrupt:
        stop.set()
        return 130
    finally:
        if shards:
            try:
                shards.release_all()
            except OrigamiError as err:  # the state is unreachable: the leases simply expire
                log.warning("leases not released", extra={"error": str(err)})
        if isinstance(builder, DaskBuilder):
            builder.close()  # cancels the jobs still out, so the build threads end before the queue stops
        builds.stop()
        if notifier:
            notifier.stop()
        if dashboard:
            dashboard.stop()
        collection.stop()
        hub.stop()
        broker.stop()
    print(f"commit {(result.revision or '-')[:12]}: {result.builds} build(s), {result.installs} install(s); "
          + ", ".join(f"{f} {'Ready' if r else 'not ready'}" for f, r in sorted(result.ready.items())))
    return 0 if all(result.ready.values()) else 3
