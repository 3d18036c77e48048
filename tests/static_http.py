"""Debian's nginx serving a directory on a free loopback port, as the static artifact server devices
fetch from (config, logs and pid in a temp dir; one process, no root needed), and a TCP relay in
front of it that cuts the first connections after a number of bytes (a download cut mid-body)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format ranges '$request_uri $status "$http_range" $body_bytes_sent';
    access_log {tmp}/access.log ranges;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


@dataclass
class StaticServer:
    root: Path
    port: int
    process: subprocess.Popen
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[tuple[str, int, str, int]]:
        """(path, status, Range header or "-", body bytes sent) of every request served so far."""
        log = self.tmp / "access.log"
        rows = []
        for line in log.read_text().splitlines() if log.exists() else []:
            path, status, rest = line.split(" ", 2)
            header, sent = rest.rsplit(" ", 1)
            rows.append((path, int(status), header.strip('"'), int(sent)))
        return rows

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_nginx(root: Path, tmp: Path) -> StaticServer:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: apt-get install -y nginx-light (scripts/system-packages.sh)")
    root.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(_CONFIG.format(tmp=tmp, port=port, root=root))
    # -e: the error log before the config is read is ours too (the default one is under /var/log).
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {(tmp / 'error.log').read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return StaticServer(root, port, process, tmp)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start listening within 10 s")


class CuttingRelay:
    """Relays loopback TCP to `port`; the first `cuts` connections are closed after `after` bytes of
    the server's answer (headers included), as a dropped link would."""

    def __init__(self, port: int, after: int, cuts: int = 1) -> None:
        self.target, self.after, self.cuts = port, after, cuts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            limit = self.after if self.cut_connections < self.cuts else None
            if limit is not None:
                self.cut_connections += 1
            threading.Thread(target=self._relay, args=(client, limit), daemon=True).start()

    def _relay(self, client: socket.socket, limit: int | None) -> None:
        server = socket.create_connection(("127.0.0.1", self.target))
        threading.Thread(target=_pump, args=(client, server, None), daemon=True).start()
        _pump(server, client, limit)
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
    sent = 0
    try:
        while limit is None or sent < limit:
            data = source.recv(min(65536, limit - sent) if limit is not None else 65536)
            if not data:
                return
            sink.sendall(data)
            sent += len(data)
    except OSError:
        return
