"""DNS rebinding and cross-site writes against the real dashboard server.

Rebinding: a page on evil.example makes evil.example resolve to 127.0.0.1; the browser then sends
`Host: evil.example:PORT` to the dashboard and lets the page read the answers. Cross-site write: a
page of another site posts to the API (with whatever credentials the browser or a script holds).
Both must be refused before anything is read or changed."""
from __future__ import annotations

import io

import httpx
import pytest

from controller.state import StateStore
from controller.web import DashboardServer
from controller.web import HostPolicy
from controller.web import create_app
from controller.web import ensure_operator_token
from controller.web.server import start_dashboard
from tests.web_seed import FLEET
from tests.web_seed import seeded_store


@pytest.fixture
def served(tmp_path):
    store = seeded_store(tmp_path)
    tokens, token = ensure_operator_token(tmp_path)
    with DashboardServer(create_app(store, tokens=tokens, hosts=HostPolicy.for_listen("127.0.0.1")),
                         "127.0.0.1", 0) as server:
        yield server, store, token


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/devices", "/", "/metrics", "/api/v1/events/stream"])
def test_a_rebound_name_reads_nothing(served, path):
    server, _, _ = served
    answer = httpx.get(server.url + path, headers={"Host": f"evil.example:{server.port}"}, timeout=5)
    assert answer.status_code == 421
    assert "dev-" not in answer.text and "Host name" in answer.text


def test_a_rebound_name_changes_nothing_even_with_the_token(served):
    server, store, token = served
    answer = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause",
                        headers={"Host": f"evil.example:{server.port}", "Authorization": f"Bearer {token}"})
    assert answer.status_code == 421 and store.rollout(FLEET).paused is False


def test_loopback_names_are_answered(served):
    server, _, _ = served
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "localhost", "[::1]:80"):
        assert httpx.get(server.url + "/api/v1/status", headers={"Host": host}).status_code == 200, host


@pytest.mark.parametrize("host", ["", "127.0.0.1:x", "[::1", "127.0.0.1.evil.example", "localhost.", "x" * 300])
def test_malformed_or_lookalike_hosts_are_refused(served, host):
    server, _, _ = served
    assert httpx.get(server.url + "/api/v1/status", headers={"Host": host}).status_code in (400, 421)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "file://"])
def test_a_write_from_another_sites_page_is_refused_even_with_the_token(served, origin):
    server, store, token = served
    answer = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause",
                        headers={"Origin": origin, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and "cross-site" in answer.json()["detail"]
    assert store.rollout(FLEET).paused is False
    assert not [e for e in store.events(kind="Fleet", name=FLEET) if e.reason == "Paused"]


def test_a_write_from_our_own_page_or_a_script_is_accepted(served):
    server, store, token = served
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause", headers=bearer).status_code == 200
    own = {**bearer, "Origin": server.url}  # our page; behind a TLS proxy its scheme is https
    assert httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/resume", headers=own).status_code == 200
    proxied = {**bearer, "Origin": f"https://127.0.0.1:{server.port}"}
    assert httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause", headers=proxied).status_code == 200
    assert store.rollout(FLEET).paused is True


def test_off_loopback_only_the_allowed_names_and_addresses_are_answered(tmp_path):
    # The policy of a wildcard listen address (as a server reachable from the LAN would have),
    # served on loopback: tests never listen beyond it.
    store = seeded_store(tmp_path)
    tokens, token = ensure_operator_token(tmp_path)
    policy = HostPolicy.for_listen("0.0.0.0", ["Origami.Example.org"])
    with DashboardServer(create_app(store, tokens=tokens, require_read_auth=True, hosts=policy), "127.0.0.1",
                         0) as server:
        bearer = {"Authorization": f"Bearer {token}"}
        for host in ("origami.example.org", f"origami.example.org:{server.port}", "192.0.2.7", "[2001:db8::1]:80"):
            assert httpx.get(server.url + "/api/v1/status", headers={**bearer, "Host": host}).status_code == 200, host
        for host in ("evil.example", "example.org", "sub.origami.example.org"):
            assert httpx.get(server.url + "/api/v1/status", headers={**bearer, "Host": host}).status_code == 421, host


def test_reconcile_listen_answers_its_allowed_hosts(tmp_path):
    store = StateStore(tmp_path / "origami-state.db")
    server = start_dashboard("127.0.0.1:0", tmp_path, store, out=io.StringIO(), allowed_hosts=["ops.example"])
    try:
        assert httpx.get(server.url + "/api/v1/status", headers={"Host": "ops.example"}).status_code == 200
        assert httpx.get(server.url + "/api/v1/status", headers={"Host": "evil.example"}).status_code == 421
    finally:
        server.stop()


def test_host_policy_for_a_named_listen_address():
    policy = HostPolicy.for_listen("10.1.2.3", ["ops.example"])
    assert policy.allows("10.1.2.3:8080") and policy.allows("ops.example") and policy.allows("localhost:1")
    assert not policy.allows("10.1.2.4") and not policy.allows("evil.example") and not policy.allows(None)
