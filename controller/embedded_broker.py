"""The embedded MQTT broker (amqtt) the controller starts on loopback when no --broker is given,
so that `origami reconcile` and `make demo` work on a fresh machine without Mosquitto.

It listens on 127.0.0.1 only, on a port chosen once and kept in the state directory
(`.origami/embedded-broker-port`), so devices find it again after a restart. When the state
directory holds a broker registry (`broker/credentials.json`, written by `origami broker config
--out STATE_DIR/broker`), it requires the same passwords and enforces the same ACLs as the
generated Mosquitto config (`embedded_broker_auth`). Without one it is OPEN: any process on this
host can connect as anyone and enroll any device id; that is for development only, and its
startup line says so. Production uses an external Mosquitto (`--broker mqtt://...`).

It runs in its own thread with its own asyncio loop.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path

from controller.devices.accounts import load_credentials
from controller.devices.enrollment import Enrollment
from controller.devices.enrollment import has_registry
from specs.errors import OrigamiError
from specs.errors import UsageError
from wire.logs import get_logger
from wire.mqtt import BrokerConnection

log = get_logger("embedded_broker")
HOST = "127.0.0.1"
PORT_FILE = Path(".origami") / "embedded-broker-port"
REGISTRY_DIR = "broker"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def kept_port(state_dir: Path) -> int:
    """The port recorded in the state directory, chosen (and recorded) on first use."""
    path = Path(state_dir) / PORT_FILE
    if path.exists():
        text = path.read_text(errors="replace").strip()
        if text.isdigit() and 1024 <= int(text) <= 65535:
            return int(text)
        raise UsageError(f"{PORT_FILE} in the state directory must hold a port number (1024-65535); "
                         "delete it to choose a new port (devices then need the new URL)")
    port = _free_port()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{port}\n")
    return port


class EmbeddedBroker:
    """amqtt on 127.0.0.1, secured by the registry in `STATE_DIR/broker` when there is one.
    Without `state_dir` (tests) it takes any free port, once."""

    def __init__(self, state_dir: Path | None = None, *, registry: Path | None = None,
                 port: int | None = None) -> None:
        self.host = HOST
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if registry is None and self.state_dir is not None:
            registry = self.state_dir / REGISTRY_DIR
        self.registry = Path(registry) if registry is not None and has_registry(registry) else None
        self.port = port or (kept_port(self.state_dir) if self.state_dir is not None else _free_port())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def open(self) -> bool:
        """No credentials required: anyone on this host may connect as any device."""
        return self.registry is None

    def enrollment(self) -> Enrollment | None:
        return Enrollment(self.registry) if self.registry is not None else None

    def connection(self, account: str | None = None) -> BrokerConnection:
        """How `account` (e.g. "controller", "collector") reaches this broker; no credentials when open."""
        if self.registry is None or account is None:
            return BrokerConnection.parse(self.url)
        password = load_credentials(self.registry).get(account)
        if password is None:
            raise UsageError(f"no account '{account}' in the broker registry; run `origami broker config` again")
        return BrokerConnection.parse(self.url, username=account, password=password)

    def startup_line(self) -> str:
        if self.registry is None:
            return (f"embedded MQTT broker on {self.url} is OPEN (development only): no credentials, any local "
                    "process may connect as any device and enrollment is open; secure it with "
                    "`origami broker config --out STATE_DIR/broker --device ID ...`")
        enrolled = len(Enrollment(self.registry).ids())
        return (f"embedded MQTT broker on {self.url}: credentials and ACLs from the broker registry, "
                f"{enrolled} enrolled device(s)")

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            kept = " (kept in the state directory so devices find it again; is another controller running?)" \
                if self.state_dir is not None else ""
            reason = "the port is in use" if isinstance(self._error, OSError) else (
                type(self._error).__name__ if self._error else "timeout")
            raise OrigamiError(f"the embedded MQTT broker did not start on {self.url}{kept}: {reason}; "
                               "pass --broker mqtt://HOST:PORT to use an external Mosquitto")
        log.info("embedded broker listening", extra={"url": self.url, "open": self.open})
        return self

    def _config(self) -> dict:
        listener = {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 10000}
        plugins: dict[str, dict[str, object]]
        if self.registry is None:
            plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        else:
            plugins = {
                "controller.embedded_broker_auth.PasswordFileAuth": {"password_file": str(self.registry / "passwd")},
                "controller.embedded_broker_auth.AclFileTopics": {"acl_file": str(self.registry / "acl")},
            }
        return {"listeners": {"default": listener}, "plugins": plugins}

    def _run(self) -> None:
        from controller.embedded_broker_auth import AccountBroker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            async def boot():
                self._broker = AccountBroker(self._config())
                self._broker.secured = self.registry is not None
                await self._broker.start()

            self._loop.run_until_complete(boot())
        except BaseException as err:  # reported by start()
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            future.result(10)
        except Exception as err:
            log.warning("embedded broker shutdown", extra={"error": str(err)})
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
