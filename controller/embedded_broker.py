"""The embedded MQTT broker (amqtt) the controller starts on loopback when no --broker is given,
so that `origami reconcile` and `make demo` work on a fresh machine without Mosquitto.

It runs in its own thread with its own asyncio loop; production uses an external Mosquitto
(`--broker mqtt://...`), with per-device credentials and ACLs.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading

from specs.errors import OrigamiError
from wire.logs import get_logger

log = get_logger("embedded_broker")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    """amqtt on 127.0.0.1 (never another interface: it allows anonymous clients)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or _free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise OrigamiError(f"the embedded MQTT broker did not start on {self.url}: {self._error or 'timeout'}; "
                               "pass --broker mqtt://HOST:PORT to use an external Mosquitto")
        log.info("embedded broker listening", extra={"url": self.url})
        return self

    def _run(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 10000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            async def boot():
                self._broker = Broker(config)
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
