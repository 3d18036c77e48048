"""`origami agent --id ID --broker URL --public-key PEM --state-dir DIR`: the Linux device agent."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from controller.cli.broker_flags import add_broker_flags
from controller.cli.broker_flags import connection_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("agent", help="run the device agent on a Linux board",
                              description="Report this board's capabilities and state over MQTT and install "
                                          "the signed models the controller asks for.")
    p.add_argument("--id", required=True, help="device id (also the MQTT user name)")
    p.add_argument("--public-key", required=True, type=Path, help="the controller's signing public key (PEM)")
    p.add_argument("--state-dir", type=Path, default=Path("/var/lib/origami-agent"))
    p.add_argument("--label", action="append", default=[], help="key=value, repeatable")
    add_broker_flags(p, username_help="default: the device id")
    p.add_argument("--tenant", default=None, metavar="NAME",
                   help="the tenant the device belongs to: its topics live under origami/v1/t/NAME on the broker "
                        "(env ORIGAMI_TENANT; default: the single-team topics)")
    p.set_defaults(func=run)


def run(args) -> int:
    from controller.devices.broker_config import check_device_id
    from controller.devices.capabilities import detect_capabilities
    from device.agent import AgentConfig
    from device.agent import DeviceAgent
    from specs.errors import UsageError
    from wire.manifests import load_public_key

    check_device_id(args.id)
    labels = dict(item.split("=", 1) for item in args.label if "=" in item)
    if len(labels) != len(args.label):
        raise UsageError("--label must be key=value")
    args.state_dir.mkdir(parents=True, exist_ok=True)
    config = AgentConfig(
        device_id=args.id, url=_in_tenant(connection_from_args(args, default_username=args.id), args.tenant),
        state_dir=args.state_dir,
        public_key=load_public_key(args.public_key),
        capabilities=lambda: detect_capabilities(Path("/"), args.state_dir), labels=labels)
    done = threading.Event()
    # before start: a SIGTERM right after the hello must still stop the agent cleanly
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    agent = DeviceAgent(config).start(timeout=30)
    try:
        done.wait()
    finally:
        agent.stop()
    return 0


def _in_tenant(connection, tenant: str | None):
    """The connection in `tenant`'s device namespace (checked: it becomes a topic level)."""
    from controller.tenancy.roles import check_tenant_name

    return connection.in_tenant(check_tenant_name(tenant)) if tenant else connection
