"""A running controller's HTTP API as the CLI's other data source (`--server URL`, alias
`--controller`): reads for `status`, `get`, `describe`, `events`, `rollout status`, `samples ls` and
`plan`, actions for `rollout ...`, `samples label` and `reconcile now`, under the same token rules as
every other API client: `Authorization: Bearer TOKEN`, the token read from `--token-file` (or
`ORIGAMI_TOKEN_FILE`, or the token itself in `ORIGAMI_TOKEN`). Reads send the token when there is one
(a controller off loopback needs it for every request); actions refuse to start without one.

urllib, not httpx: httpx is a test dependency only. Redirects are not followed, so the token is
only ever sent to the URL the operator named. Answers are bounded.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

from specs.errors import AuthError
from specs.errors import NotFoundError
from specs.errors import UsageError
from wire.secret_files import read_first_line_text
from wire.text import printable

TIMEOUT_SECONDS = 30
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a read of a big fleet's records; actions answer a few hundred bytes
MAX_DETAIL_BYTES = 64 * 1024


def add_server_flags(parser) -> None:
    parser.add_argument("--server", "--controller", dest="server",
                        default=os.environ.get("ORIGAMI_SERVER") or os.environ.get("ORIGAMI_CONTROLLER"),
                        metavar="URL",
                        help="ask this running controller's API (e.g. http://127.0.0.1:8080) instead of the local "
                             "state store (env ORIGAMI_SERVER); actions need an operator token")
    parser.add_argument("--token-file", default=os.environ.get("ORIGAMI_TOKEN_FILE"), metavar="FILE",
                        help="file whose first line is the operator token, for --server "
                             "(env ORIGAMI_TOKEN_FILE, or the token itself in ORIGAMI_TOKEN)")
    parser.add_argument("--tenant", default=os.environ.get("ORIGAMI_TENANT"), metavar="NAME",
                        help="with --server: the tenant meant; the controller refuses (403) a tenant other than "
                             "the token's (env ORIGAMI_TENANT)")


def read_token(token_file: str | None, *, required: bool = True) -> str | None:
    """The operator token: the first line of `token_file`, else `ORIGAMI_TOKEN`; None when there is
    none and it is not `required`. Errors name the file, never its content."""
    if token_file:
        return read_first_line_text(token_file, "--token-file",
                                    hint="it should hold the operator token (`origami operator-token --out FILE` "
                                         "writes one)")
    token = os.environ.get("ORIGAMI_TOKEN", "").strip()
    if not token and required:
        raise UsageError("--server needs an operator token to act: --token-file FILE (or ORIGAMI_TOKEN_FILE, or "
                         "ORIGAMI_TOKEN); `origami operator-token --out FILE` creates one")
    return token or None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx stays an error: the token goes nowhere else


_OPENER = urllib.request.build_opener(_NoRedirects)


def _detail(body: bytes) -> str:
    """The server's `detail`, bounded and printable (it may quote names a device or spec chose)."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return printable(detail if isinstance(detail, str) else "no detail")[:300]


class ControllerClient:
    """JSON over HTTP to one controller. Errors are the CLI's own: AuthError (401/403),
    NotFoundError (404, with the server's reason), UsageError (unreachable, anything else)."""

    def __init__(self, server: str, token: str | None, tenant: str | None = None) -> None:
        base = server.rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--server {printable(server)[:200]}: expected http(s)://HOST:PORT")
        self.base, self.origin, self.token = base, f"{parts.scheme}://{parts.netloc}", token
        self.tenant = tenant

    def get(self, path: str, params: dict | None = None) -> tuple[object, dict[str, str]]:
        """GET /api/v1/PATH?params: (the JSON answer, its headers). List values repeat the key."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
        return self._send("GET", path + (f"?{query}" if query else ""), None)

    def post(self, path: str, body: dict | None = None) -> object:
        if self.token is None:
            read_token(None)  # raises: says how to give one
        return self._send("POST", path, json.dumps(body or {}).encode())[0]

    def _send(self, method: str, path: str, data: bytes | None) -> tuple[object, dict[str, str]]:
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.tenant:
            headers["X-Origami-Tenant"] = self.tenant
        request = urllib.request.Request(f"{self.base}/api/v1/{path}", data=data, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
                body = answer.read(MAX_ANSWER_BYTES + 1)
                if len(body) > MAX_ANSWER_BYTES:
                    raise UsageError(f"the controller's answer to {path.split('?')[0]} is larger than "
                                     f"{MAX_ANSWER_BYTES // 2**20} MiB; narrow the request")
                return json.loads(body), {k.lower(): v for k, v in answer.headers.items()}
        except urllib.error.HTTPError as err:
            detail = _detail(err.read(MAX_DETAIL_BYTES))
            if err.code == 401:
                raise AuthError(f"the controller refused the operator token (401: {detail}); check --token-file, "
                                "or create a token with `origami operator-token --out FILE`") from None
            if err.code == 403:
                raise AuthError(f"the controller refused the action (403: {detail})") from None
            if err.code == 404:
                raise NotFoundError(detail) from None
            raise UsageError(f"the controller answered {err.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise UsageError(f"cannot reach the controller at {self.origin}: {printable(reason)[:200]}") from None


def client_from_args(args, *, acting: bool = False) -> ControllerClient:
    """The client of `--server` and `--token-file`; `acting` commands need the token up front."""
    return ControllerClient(args.server, read_token(args.token_file, required=acting), getattr(args, "tenant", None))


def post_rollout_action(client: ControllerClient, fleet: str, action: str) -> dict:
    """POST /api/v1/fleets/FLEET/rollout/ACTION; the ActionResult as a dict."""
    return client.post(f"fleets/{quote(fleet, safe='')}/rollout/{quote(action, safe='')}")
