"""`POST /api/v1/hooks/git` wakes the reconcile loop for anyone who can reach it, so its only
credential is the signature: `X-Hub-Signature-256: sha256=HMAC(secret, body)`. Attacks: no
signature, a guessed secret, a genuine signature on a tampered body, the old SHA-1 header, an
oversized body (declared or streamed), and `POST /api/v1/reconcile` without a token or from another
site. Each is refused with a clear error, wakes nothing and records nothing."""
from __future__ import annotations

import hashlib
import hmac
import io

import httpx
import pytest

from controller.state import StateStore
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from controller.web.server import start_dashboard
from controller.web.triggers import MAX_HOOK_BYTES
from specs.errors import UsageError

SECRET = b"s3cret-of-the-forge-0123456789"
HOOK = "/api/v1/hooks/git"


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.fixture(params=[False, True], ids=["loopback", "off-loopback"])
def served(tmp_path, request):
    """A server whose loop counts its wake-ups; also as one reachable off loopback (reads need the token)."""
    store = StateStore(tmp_path / "origami-state.db")
    tokens, token = ensure_operator_token(tmp_path)
    woken: list[int] = []
    app = create_app(store, tokens=tokens, require_read_auth=request.param, reconcile_now=lambda: woken.append(1),
                     webhook_secret=SECRET)
    with DashboardServer(app, "127.0.0.1", 0) as server:
        yield server, store, woken, token


def _nothing_happened(store: StateStore, woken: list[int]) -> None:
    assert woken == [] and not [e for e in store.events() if e.reason == "ReconcileRequested"]


BODY = b'{"ref": "refs/heads/main"}'


def test_a_genuine_signature_wakes_the_loop(served):
    server, store, woken, _ = served
    answer = httpx.post(server.url + HOOK, content=BODY, headers={"X-Hub-Signature-256": sign(BODY)})
    assert answer.status_code == 202 and woken == [1]


def test_an_unsigned_webhook_is_refused(served):
    server, store, woken, _ = served
    answer = httpx.post(server.url + HOOK, content=BODY)
    assert answer.status_code == 401 and "X-Hub-Signature-256" in answer.json()["detail"]
    _nothing_happened(store, woken)


def test_a_guessed_secret_is_refused(served):
    server, store, woken, _ = served
    answer = httpx.post(server.url + HOOK, content=BODY, headers={"X-Hub-Signature-256": sign(BODY, b"guess")})
    assert answer.status_code == 401
    _nothing_happened(store, woken)


def test_a_genuine_signature_on_a_tampered_body_is_refused(served):
    server, store, woken, _ = served
    tampered = BODY.replace(b"main", b"evil")
    answer = httpx.post(server.url + HOOK, content=tampered, headers={"X-Hub-Signature-256": sign(BODY)})
    assert answer.status_code == 401
    _nothing_happened(store, woken)


def test_the_sha1_header_alone_is_refused(served):
    server, store, woken, _ = served
    sha1 = "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    for headers in ({"X-Hub-Signature": sha1}, {"X-Hub-Signature-256": sha1}):
        assert httpx.post(server.url + HOOK, content=BODY, headers=headers).status_code == 401
    _nothing_happened(store, woken)


def test_an_oversized_body_is_refused_before_it_is_hashed(served):
    server, store, woken, _ = served
    big = b"x" * (MAX_HOOK_BYTES + 1)
    declared = httpx.post(server.url + HOOK, content=big, headers={"X-Hub-Signature-256": sign(big)})
    assert declared.status_code == 413 and "at most" in declared.json()["detail"]

    def chunks():  # no Content-Length: the server counts as it reads
        for _ in range(MAX_HOOK_BYTES // 65536 + 2):
            yield b"x" * 65536
    streamed = httpx.post(server.url + HOOK, content=chunks(), headers={"X-Hub-Signature-256": "sha256=00"})
    assert streamed.status_code == 413
    _nothing_happened(store, woken)


def test_reconcile_now_needs_the_operator_token_and_our_origin(served):
    server, store, woken, token = served
    assert httpx.post(server.url + "/api/v1/reconcile").status_code == 401
    assert httpx.post(server.url + "/api/v1/reconcile", headers={"Authorization": "Bearer guessed"}).status_code == 401
    cross = httpx.post(server.url + "/api/v1/reconcile", headers={"Authorization": f"Bearer {token}",
                                                                   "Origin": "https://evil.example"})
    assert cross.status_code == 403
    _nothing_happened(store, woken)
    assert httpx.post(server.url + "/api/v1/reconcile", headers={"Authorization": f"Bearer {token}"}).status_code == 202
    assert woken == [1]


def test_without_a_secret_there_is_no_webhook(tmp_path):
    store = StateStore(tmp_path / "origami-state.db")
    tokens, _ = ensure_operator_token(tmp_path)
    woken: list[int] = []
    with DashboardServer(create_app(store, tokens=tokens, reconcile_now=lambda: woken.append(1)),
                         "127.0.0.1", 0) as server:
        answer = httpx.post(server.url + HOOK, content=BODY, headers={"X-Hub-Signature-256": sign(BODY)})
    assert answer.status_code == 404 and "--webhook-secret-file" in answer.json()["detail"]
    _nothing_happened(store, woken)


def test_a_short_or_missing_secret_file_stops_the_start_without_echoing_it(tmp_path):
    store = StateStore(tmp_path / "origami-state.db")
    short = tmp_path / "secret"
    short.write_text("hunter2\n")
    for path in (short, tmp_path / "missing"):
        with pytest.raises(UsageError) as refused:
            start_dashboard("127.0.0.1:0", tmp_path, store, out=io.StringIO(), webhook_secret_file=str(path))
        assert "hunter2" not in str(refused.value) and str(tmp_path) not in str(refused.value)
    assert not (tmp_path / "operator-token").exists()  # refused before anything was created
