"""Operator tokens (created once, stored hashed), sessions, CSRF, and reads off loopback."""
from __future__ import annotations

import json

import httpx
import pytest

from controller.web import DashboardServer
from controller.web import TokenStore
from controller.web import create_app
from controller.web import ensure_operator_token
from controller.web import is_loopback
from controller.web.auth import TOKEN_FILE
from tests.web_seed import FLEET
from tests.web_seed import seeded_store


def test_token_is_created_once_and_only_its_salted_hash_is_kept(tmp_path):
    tokens, token = ensure_operator_token(tmp_path)
    assert token and len(token) >= 40
    again, shown = ensure_operator_token(tmp_path)
    assert shown is None  # shown once: a second start prints nothing
    text = (tmp_path / TOKEN_FILE).read_text()
    assert token not in text
    entry = json.loads(text)["tokens"][0]
    assert entry["name"] == "operator" and len(bytes.fromhex(entry["salt"])) == 16
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o077 == 0
    assert again.verify(token) == "operator"
    assert again.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert again.verify("") is None and again.verify(None) is None


def test_a_new_token_replaces_the_old_one_of_that_operator(tmp_path):
    tokens = TokenStore(tmp_path / TOKEN_FILE)
    old = tokens.create("alice")
    bob = tokens.create("bob")
    new = tokens.create("alice")
    assert tokens.verify(old) is None and tokens.verify(new) == "alice" and tokens.verify(bob) == "bob"


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.168.1.10", False), ("example.org", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


@pytest.fixture
def served(tmp_path):
    def serve(require_read_auth: bool):
        store = seeded_store(tmp_path)
        tokens, token = ensure_operator_token(tmp_path)
        server = DashboardServer(create_app(store, tokens=tokens, require_read_auth=require_read_auth),
                                 "127.0.0.1", 0).start()
        servers.append(server)
        return server, store, token
    servers: list[DashboardServer] = []
    yield serve
    for s in servers:
        s.stop()


def test_off_loopback_every_read_needs_the_token(served):
    server, _, token = served(require_read_auth=True)
    bearer = {"Authorization": f"Bearer {token}"}
    for path in ("/api/v1/status", "/api/v1/fleets/mcu", "/metrics", "/openapi.json"):
        assert httpx.get(server.url + path).status_code == 401
        assert httpx.get(server.url + path, headers=bearer).status_code == 200
    page = httpx.get(server.url + f"/fleets/{FLEET}")
    assert page.status_code == 303 and page.headers["location"] == f"/login?next=/fleets/{FLEET}"
    assert httpx.get(server.url + "/login").status_code == 200


def test_on_loopback_reads_need_no_token_but_actions_do(served):
    server, store, token = served(require_read_auth=False)
    assert httpx.get(server.url + "/api/v1/status").status_code == 200
    assert httpx.get(server.url + f"/fleets/{FLEET}").status_code == 200
    refused = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/undo")
    assert refused.status_code == 401 and "Bearer" in refused.json()["detail"]
    wrong = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/undo", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert store.rollout(FLEET).undo_requested is False
    ok = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/undo", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and store.rollout(FLEET).undo_requested is True
    assert store.events(since=ok.json()["event"] - 1)[0].message == "operator operator (api): rollout undo"
    missing = httpx.post(server.url + "/api/v1/fleets/nope/rollout/pause", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404


def test_a_session_acts_only_with_the_csrf_header_from_this_origin(served):
    server, store, token = served(require_read_auth=False)
    with httpx.Client(base_url=server.url) as browser:
        browser.get("/login")
        csrf = browser.cookies["origami_csrf"]
        assert browser.post("/login", data={"csrf": csrf, "token": "wrong", "next": "/"}).status_code == 401
        logged_in = browser.post("/login", data={"csrf": csrf, "token": token, "next": f"/fleets/{FLEET}"})
        assert logged_in.status_code == 303 and "origami_session" in browser.cookies
        # The session alone (what a cross-site request would carry) is not enough for the API.
        assert browser.post(f"/api/v1/fleets/{FLEET}/rollout/pause").status_code == 403
        assert browser.post(f"/api/v1/fleets/{FLEET}/rollout/pause", headers={
            "X-CSRF-Token": csrf, "Origin": "http://evil.example"}).status_code == 403
        assert store.rollout(FLEET).paused is False
        assert browser.post(f"/api/v1/fleets/{FLEET}/rollout/pause", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert store.rollout(FLEET).paused is True
        # The dashboard's form works from the session without typing the token again.
        resumed = browser.post(f"/fleets/{FLEET}/rollout/resume", data={"csrf": csrf})
        assert resumed.status_code == 303 and store.rollout(FLEET).paused is False
        browser.post("/logout", data={"csrf": csrf})
        assert browser.post(f"/fleets/{FLEET}/rollout/pause", data={"csrf": csrf}).status_code == 401
    assert store.rollout(FLEET).paused is False


def test_operator_token_command_replaces_the_token(tmp_path, capsys):
    from controller.cli.main import main

    tokens, first = ensure_operator_token(tmp_path)
    assert main(["operator-token", "--state-dir", str(tmp_path), "--out", str(tmp_path / "new.token")]) == 0
    new = (tmp_path / "new.token").read_text().strip()
    assert new not in capsys.readouterr().out
    assert tokens.verify(first) is None and tokens.verify(new) == "operator"


def test_retry_is_an_action_like_the_others(served):
    server, store, token = served(require_read_auth=False)
    url = server.url + f"/api/v1/fleets/{FLEET}/rollout/retry"
    assert httpx.post(url).status_code == 401 and store.rollout(FLEET).retry_requested is False
    with httpx.Client(base_url=server.url) as browser:
        browser.get(f"/fleets/{FLEET}")
        csrf = browser.cookies["origami_csrf"]
        assert 'id="retry"' in browser.get(f"/fleets/{FLEET}").text
        done = browser.post(f"/fleets/{FLEET}/rollout/retry", data={"csrf": csrf, "token": token})
    assert done.status_code == 303 and store.rollout(FLEET).retry_requested is True
    assert store.events()[-1].message == "operator operator (dashboard): rollout retry"


def test_operator_token_command_prints_on_a_terminal(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import ROOT

    tokens, _ = ensure_operator_token(tmp_path)
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "controller.cli.main", "operator-token", "--name", "bob",
                               "--state-dir", str(tmp_path)], stdout=follower, stderr=subprocess.PIPE, timeout=60,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        shown = os.read(leader, 4096).decode()
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 0, done.stderr
    assert tokens.verify(shown.split()[2]) == "bob"
