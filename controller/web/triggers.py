"""Asking the running loop for a pass now, instead of at the next git poll: an operator
(`POST /api/v1/reconcile`, what `origami reconcile now --server URL` sends, with the operator token)
or the forge (`POST /api/v1/hooks/git`, a GitHub-style push webhook signed with a shared secret).

The webhook's only credential is its signature: `X-Hub-Signature-256: sha256=HEX`, the HMAC-SHA256
of the exact body under the secret of `--webhook-secret-file`, compared in constant time. The body
is read up to MAX_HOOK_BYTES and then refused (413), before any HMAC is computed over it. A wrong or
missing signature is a 401 that wakes nothing and records nothing. Either way the answer is 202: the
pass runs on the loop's thread, never on the request's.
"""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from fastapi import APIRouter
from fastapi import Depends
from fastapi import HTTPException
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from controller.tenancy.roles import Principal
from controller.web.api import api_operator
from controller.web.context import Dashboard
from controller.web.context import dashboard
from specs.errors import UsageError
from wire.logs import get_logger
from wire.secret_files import read_bounded

log = get_logger("web.triggers")
router = APIRouter(prefix="/api/v1", tags=["v1"])
HOOK_PATH = "/api/v1/hooks/git"
MAX_HOOK_BYTES = 1024 * 1024  # GitHub's push payloads list at most 20 commits: far below this
MAX_SECRET_FILE_BYTES = 4096
MIN_SECRET_CHARS = 16
SIGNATURE_HEADER = "x-hub-signature-256"


class ReconcileRequested(BaseModel):
    requested: bool = True
    by: str
    event: int | None = None
    message: str


def load_webhook_secret(path: str | Path) -> bytes:
    """The first line of the secret file, as GitHub HMACs with it. Errors name the file, never its content."""
    path = Path(path)
    secret = read_bounded(path, "--webhook-secret-file", MAX_SECRET_FILE_BYTES).split(b"\n", 1)[0].strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise UsageError(f"--webhook-secret-file {path.name}: the first line should hold a secret of at least "
                         f"{MIN_SECRET_CHARS} characters (e.g. `openssl rand -hex 32 > {path.name}`), the same as "
                         "the webhook's secret in the forge's settings")
    return secret


def signature_matches(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=` + the HMAC-SHA256 of `body` under `secret` (constant time)."""
    if not header:
        return False
    expected = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


def _wake(board: Dashboard, who: str) -> ReconcileRequested:
    if board.reconcile_now is None:
        raise HTTPException(503, "this server runs no reconcile loop")
    message = f"{who}: reconcile requested"
    seq = board.store.emit("Source", "specs", "ReconcileRequested", message)
    board.reconcile_now()
    log.info("reconcile requested", extra={"by": who})
    return ReconcileRequested(by=who, event=seq, message=message + "; the loop fetches and applies the specs now")


@router.post("/reconcile", status_code=202, response_model=ReconcileRequested, responses={
    401: {"description": "no valid operator token"}, 503: {"description": "no reconcile loop here"}},
    summary="fetch the specs and run a pass now, not at the next poll (operator token required)")
def post_reconcile(operator: Principal = Depends(api_operator), board: Dashboard = Depends(dashboard)):
    return _wake(board, operator.signature("api"))


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_HOOK_BYTES:
        raise HTTPException(413, f"a webhook body is at most {MAX_HOOK_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_HOOK_BYTES:
            raise HTTPException(413, f"a webhook body is at most {MAX_HOOK_BYTES} bytes")
    return bytes(body)


@router.post("/hooks/git", status_code=202, response_model=ReconcileRequested, responses={
    401: {"description": "missing or wrong X-Hub-Signature-256"}, 404: {"description": "no webhook secret set"},
    413: {"description": "body too large"}},
    summary="a GitHub-style push webhook (X-Hub-Signature-256): fetch the specs and run a pass now")
async def post_git_hook(request: Request, board: Dashboard = Depends(dashboard)):
    if board.webhook_secret is None:
        raise HTTPException(404, "no webhook here: start the controller with --webhook-secret-file FILE")
    body = await _bounded_body(request)
    if not signature_matches(board.webhook_secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("webhook refused: wrong or missing signature")
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256 (HMAC-SHA256 of the body with the "
                                 "webhook secret)")
    event = request.headers.get("x-github-event", "push")
    if event == "ping":  # sent once when the webhook is created
        return JSONResponse({"requested": False, "by": "git webhook", "event": None, "message": "pong"}, 200)
    kind = event if event.isalnum() and len(event) <= 40 else "event"
    return _wake(board, f"git webhook ({kind})")
