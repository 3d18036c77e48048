"""A stand-in for a forge's REST API (GitHub's shape) on a free loopback port: it records every
request (method, path, headers, JSON body) and answers 201, or `status` when a test sets it."""
from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: object


class Forge:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 201
        forge = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                forge.requests.append(Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                              body))
                answer = b'{"id": 1}'
                self.send_response(forge.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def posted(self, path_part: str) -> list[Request]:
        return [r for r in self.requests if path_part in r.path]

    def __enter__(self) -> Forge:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
