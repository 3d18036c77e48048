"""The broker options of every command that connects to MQTT, defined once.

    --broker URL                 mqtt://host:1883, mqtts://host:8883, or with user info mqtt://user:pw@host
    --broker-username NAME       (devices and gateways: their id by default)
    --broker-password-file FILE  first line is the password; never a password on the command line
    --broker-ca FILE             CA certificate that signed the broker's TLS certificate
    --broker-cert FILE, --broker-key FILE   a client certificate, when the broker asks for one
    --broker-registry DIR        (the controller) the directory `origami broker config` wrote

Each falls back to an environment variable (ORIGAMI_BROKER, ORIGAMI_BROKER_USERNAME,
ORIGAMI_BROKER_PASSWORD_FILE or ORIGAMI_BROKER_PASSWORD, ORIGAMI_BROKER_CA, ORIGAMI_BROKER_CERT,
ORIGAMI_BROKER_KEY, ORIGAMI_BROKER_REGISTRY), then to the URL's user info.

The controller (`origami reconcile`) calls `open_controller_broker(args, state_dir)`: it gives the
DeviceHub's and the collector's connections (two accounts: a broker with
`use_username_as_clientid` allows one connection per account), the enrollment check, and the
startup line that says how open the broker is.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controller.devices.accounts import Accounts
from controller.devices.accounts import load_accounts
from controller.devices.accounts import load_credentials
from controller.devices.enrollment import Enrollment
from controller.devices.enrollment import has_registry
from specs.errors import UsageError
from wire.mqtt import DEFAULT_URL
from wire.mqtt import ENVIRONMENT
from wire.mqtt import BrokerConnection

if TYPE_CHECKING:
    from controller.embedded_broker import EmbeddedBroker

REGISTRY_ENV = "ORIGAMI_BROKER_REGISTRY"


def add_broker_flags(parser, *, default_url: str | None = DEFAULT_URL, registry: bool = False,
                     username_help: str = "broker user name") -> None:
    default = f"default: ${ENVIRONMENT['url']} or {default_url}" if default_url else \
        f"default: ${ENVIRONMENT['url']} or the embedded broker"
    group = parser.add_argument_group("broker")
    group.add_argument("--broker", metavar="URL", default=None,
                       help=f"mqtt://host:1883 or mqtts://host:8883, user info allowed ({default})")
    group.add_argument("--broker-username", metavar="NAME", help=f"{username_help} (${ENVIRONMENT['username']})")
    group.add_argument("--broker-password-file", metavar="FILE",
                       help=f"file whose first line is the password (${ENVIRONMENT['password_file']}, "
                            f"or the password itself in ${ENVIRONMENT['password']})")
    group.add_argument("--broker-ca", metavar="FILE", help=f"CA certificate for TLS (${ENVIRONMENT['ca_file']})")
    group.add_argument("--broker-cert", metavar="FILE", help=f"client certificate (${ENVIRONMENT['cert_file']})")
    group.add_argument("--broker-key", metavar="FILE", help=f"client certificate's key (${ENVIRONMENT['key_file']})")
    if registry:
        group.add_argument("--broker-registry", metavar="DIR", type=Path,
                           help="directory written by `origami broker config`: the controller's and collector's "
                                f"accounts and the enrolled devices (${REGISTRY_ENV}; with the embedded broker "
                                "default STATE_DIR/broker)")
    parser.set_defaults(broker_default_url=default_url)


def connection_from_args(args, *, default_username: str | None = None) -> BrokerConnection:
    """The connection these options (and the environment) describe. `default_username` (a device's or
    gateway's id) is used when a password is given without a user name."""
    connection = BrokerConnection.resolve(
        args.broker, username=args.broker_username, password_file=args.broker_password_file,
        ca_file=args.broker_ca, cert_file=args.broker_cert, key_file=args.broker_key,
        default_url=getattr(args, "broker_default_url", None) or DEFAULT_URL)
    if connection.username is None and connection.password is not None:
        if default_username is None:
            raise UsageError("a broker password needs a user name: --broker-username NAME or mqtt://NAME@host")
        connection = connection.as_user(default_username, connection.password)
    return connection


def broker_given(args) -> bool:
    return bool(args.broker or os.environ.get(ENVIRONMENT["url"]))


def registry_from_args(args) -> Path | None:
    given = getattr(args, "broker_registry", None) or os.environ.get(REGISTRY_ENV)
    if given and not has_registry(Path(given)):
        raise UsageError(f"--broker-registry {given}: no credentials.json there; write it with "
                         "`origami broker config --out DIR`")
    return Path(given) if given else None


@dataclass
class ControllerBroker:
    hub: BrokerConnection            # the DeviceHub's account (controller)
    collector: BrokerConnection      # the sample collector's account
    enrollment: Enrollment | None    # None: every device id is believed
    startup_line: str
    embedded: EmbeddedBroker | None = None   # when no --broker was given

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def _account(registry: Path, name: str, base: BrokerConnection) -> BrokerConnection:
    password = load_credentials(registry).get(name)
    if password is None:
        raise UsageError(f"no account '{name}' in the broker registry; run `origami broker config` again")
    return base.as_user(name, password)


def open_controller_broker(args, state_dir: Path) -> ControllerBroker:
    """External broker when --broker (or $ORIGAMI_BROKER) is given, else the embedded one (started)."""
    registry = registry_from_args(args)
    if not broker_given(args):
        from controller.embedded_broker import EmbeddedBroker

        embedded = EmbeddedBroker(state_dir, registry=registry).start()
        accounts = load_accounts(embedded.registry) if embedded.registry else Accounts()
        return ControllerBroker(embedded.connection(accounts.controller if embedded.registry else None),
                                embedded.connection(accounts.collector if embedded.registry else None),
                                embedded.enrollment(), embedded.startup_line(), embedded)
    base = connection_from_args(args)
    if registry is None:
        return ControllerBroker(base, base, None,
                                f"MQTT broker {base}: enrollment is open, every device id is believed "
                                "(give --broker-registry DIR to accept only enrolled devices)")
    accounts = load_accounts(registry)
    hub = base if base.username else _account(registry, accounts.controller, base)
    enrollment = Enrollment(registry)
    return ControllerBroker(hub, _account(registry, accounts.collector, base), enrollment,
                            f"MQTT broker {hub}: {len(enrollment.ids())} enrolled device(s), "
                            "reports from any other device id are ignored")
