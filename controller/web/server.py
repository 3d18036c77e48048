"""Serving the dashboard with uvicorn on a background thread, beside the reconcile loop."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

from specs.errors import UsageError
from wire.logs import get_logger

log = get_logger("web.server")
MAX_CONNECTIONS = 256  # connections and requests at once (server-sent-event streams have their own bound)


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`, or `PORT` alone for loopback) as given to `--listen`."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {value!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


class DashboardServer:
    """uvicorn on its own thread; `start()` returns once the socket listens (port 0: a free one)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8080, *,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.host = host
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as err:
            self._socket.close()
            raise UsageError(f"cannot listen on {host}:{port}: {err.strerror}; pick another --listen") from err
        self.port = self._socket.getsockname()[1]
        # log_config=None: uvicorn's default dictConfig closes every logging handler in the process
        # (ours, and one that TensorFlow's absl logging holds on whatever stderr was when it loaded).
        # Beyond `max_connections` open connections and requests, uvicorn answers 503 at once.
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, log_config=None,
                                                     timeout_graceful_shutdown=2,
                                                     limit_concurrency=max_connections))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> DashboardServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise UsageError(f"the dashboard did not start on {self.url}")
            time.sleep(0.02)
        log.info("dashboard listening", extra={"url": self.url})
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_dashboard(listen: str, state_dir, store, builder=None, reconciler=None, hub=None,
                    out=None, collection=None, allowed_hosts: list[str] | tuple[str, ...] = (),
                    max_streams: int | None = None, webhook_secret_file: str | None = None) -> DashboardServer:
    """What `origami reconcile --listen HOST:PORT` runs: the operator token (on the first run, written
    to `STATE/operator-token`, mode 0600: the startup line says where, never what), metrics wired to
    the running parts (`collection`: the CollectionService, whose stored windows are counted), and
    the server, answering the listen address's names and `allowed_hosts`. The samples API reads its
    own connection to the state file, so pages never wait on the collector's writes. Off loopback,
    every request needs the token. `reconciler.wake` answers `POST /api/v1/reconcile` and, with a
    `webhook_secret_file`, signed git webhooks."""
    import sys
    from pathlib import Path

    from controller.web.app import create_app
    from controller.web.auth import hand_over_first_token
    from controller.web.auth import is_loopback
    from controller.web.hosts import HostPolicy
    from controller.web.metrics import ControllerMetrics
    from controller.web.metrics import wire_metrics
    from controller.web.streams import DEFAULT_MAX_STREAMS
    from controller.web.triggers import load_webhook_secret

    out = out or sys.stderr
    host, port = parse_listen(listen)
    secret = load_webhook_secret(webhook_secret_file) if webhook_secret_file else None  # a bad file stops us first
    tokens, token_file = hand_over_first_token(Path(state_dir))
    metrics = ControllerMetrics(store)
    wire_metrics(metrics, reconciler=reconciler, builder=builder, hub=hub, collection=collection)
    loopback = is_loopback(host)
    app = create_app(store, builder.store if builder is not None else None, metrics, tokens=tokens,
                     require_read_auth=not loopback, hosts=HostPolicy.for_listen(host, allowed_hosts),
                     max_streams=DEFAULT_MAX_STREAMS if max_streams is None else max_streams,
                     reconcile_now=reconciler.wake if reconciler is not None else None, webhook_secret=secret)
    server = DashboardServer(app, host, port).start()
    print(f"origami: dashboard on {server.url} (API {server.url}/api/v1, metrics {server.url}/metrics)"
          + ("" if loopback else "; not loopback: every request needs the operator token"), file=out)
    if token_file:
        print(f"origami: the first operator token is in {token_file} (mode 0600): read it, keep it where "
              "your API clients read it (e.g. `--token-file`), then delete that file", file=out)
    return server
