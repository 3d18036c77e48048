"""Operator actions sent to a running controller's API (`--controller URL`), under the same token
rules as every other API client: `Authorization: Bearer TOKEN`, the token read from `--token-file`
(or `ORIGAMI_TOKEN_FILE`, or the token itself in `ORIGAMI_TOKEN`).

urllib, not httpx: httpx is a test dependency only. Redirects are not followed, so the token is
only ever sent to the URL the operator named.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlsplit

from specs.errors import AuthError
from specs.errors import UsageError
from wire.text import printable

TIMEOUT_SECONDS = 30
MAX_ANSWER_BYTES = 64 * 1024
MAX_TOKEN_FILE_BYTES = 4096


def add_controller_flags(parser) -> None:
    parser.add_argument("--controller", default=os.environ.get("ORIGAMI_CONTROLLER"), metavar="URL",
                        help="act through this controller's API (e.g. http://127.0.0.1:8080) with an operator "
                             "token, instead of writing the local state store (env ORIGAMI_CONTROLLER)")
    parser.add_argument("--token-file", default=os.environ.get("ORIGAMI_TOKEN_FILE"), metavar="FILE",
                        help="file whose first line is the operator token, for --controller "
                             "(env ORIGAMI_TOKEN_FILE, or the token itself in ORIGAMI_TOKEN)")


def read_token(token_file: str | None) -> str:
    """The operator token: the first line of `token_file`, else `ORIGAMI_TOKEN`. Errors name the
    file, never its content."""
    if token_file:
        path = Path(token_file)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as err:
            raise UsageError(f"--token-file {path.name}: cannot read it ({err.strerror})") from err
        lines = data[:MAX_TOKEN_FILE_BYTES].decode("utf-8", errors="replace").splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise UsageError(f"--token-file {path.name}: the first line is empty; it should hold the operator "
                             "token (`origami operator-token --out FILE` writes one)")
        return token
    token = os.environ.get("ORIGAMI_TOKEN", "").strip()
    if not token:
        raise UsageError("--controller needs an operator token: --token-file FILE (or ORIGAMI_TOKEN_FILE, or "
                         "ORIGAMI_TOKEN); `origami operator-token --out FILE` creates one")
    return token


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
    return printable(detail if isinstance(detail, str) else "no detail")[:300]


def post_rollout_action(controller: str, token: str, fleet: str, action: str) -> dict:
    """POST /api/v1/fleets/FLEET/rollout/ACTION; the ActionResult as a dict. AuthError on 401/403,
    UsageError when the controller cannot be reached or refuses for another reason."""
    base = controller.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--controller {printable(controller)[:200]}: expected http(s)://HOST:PORT")
    url = f"{base}/api/v1/fleets/{quote(fleet, safe='')}/rollout/{quote(action, safe='')}"
    request = urllib.request.Request(url, data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return json.loads(answer.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as err:
        detail = _detail(err.read(MAX_ANSWER_BYTES))
        if err.code == 401:
            raise AuthError(f"the controller refused the operator token (401: {detail}); check --token-file, "
                            "or create a token with `origami operator-token --out FILE`") from None
        if err.code == 403:
            raise AuthError(f"the controller refused the action (403: {detail})") from None
        raise UsageError(f"the controller answered {err.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise UsageError(f"cannot reach the controller at {parts.scheme}://{parts.netloc}: "
                         f"{printable(reason)[:200]}") from None
