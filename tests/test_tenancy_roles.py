"""Roles and tenants on the real HTTP server: tokens bound to a tenant and a role; every route, page,
event stream, metric and CLI remote command answers from the caller's tenant only, and refuses (403,
with the reason) what the caller's role may not do."""
from __future__ import annotations

import json

import httpx
import pytest

from controller.state import StateStore
from controller.tenancy.web import TenantBoard
from controller.tenancy.web import create_tenant_app
from controller.web import DashboardServer
from controller.web import create_app
from controller.web.auth import TOKEN_FILE
from controller.web.auth import TokenStore
from specs.errors import AuthError
from tests.web_seed import FLEET
from tests.web_seed import seeded_store


def _bearer(token: str, tenant: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **({"X-Origami-Tenant": tenant} if tenant else {})}


def test_a_token_from_before_tenancy_is_the_default_tenants_operator(tmp_path):
    tokens = TokenStore(tmp_path / TOKEN_FILE)
    token = tokens.create("alice")
    data = json.loads((tmp_path / TOKEN_FILE).read_text())
    for entry in data["tokens"]:  # what the file held before tenants and roles existed
        del entry["tenant"], entry["role"]
    (tmp_path / TOKEN_FILE).write_text(json.dumps(data))
    who = TokenStore(tmp_path / TOKEN_FILE).principal(token)
    assert (who.name, who.tenant, who.role) == ("alice", "default", "operator")


def test_the_same_name_in_two_tenants_holds_two_tokens(tmp_path):
    tokens = TokenStore(tmp_path / TOKEN_FILE)
    a, b = tokens.create("ops", tenant="acme", role="viewer"), tokens.create("ops", tenant="globex", role="admin")
    assert tokens.principal(a).tenant == "acme" and tokens.principal(b).role == "admin"
    with pytest.raises(AuthError, match="role"):
        tokens.create("x", role="root")
    with pytest.raises(AuthError, match="tenant name"):
        tokens.create("x", tenant="../etc")


@pytest.fixture
def single(tmp_path):
    store = seeded_store(tmp_path)
    tokens = TokenStore(tmp_path / TOKEN_FILE)
    server = DashboardServer(create_app(store, tokens=tokens), "127.0.0.1", 0).start()
    yield server, store, tokens
    server.stop()


def test_a_viewer_reads_but_cannot_act(single):
    server, store, tokens = single
    viewer = tokens.create("vera", role="viewer")
    assert httpx.get(server.url + f"/api/v1/fleets/{FLEET}", headers=_bearer(viewer)).status_code == 200
    for path in (f"/api/v1/fleets/{FLEET}/rollout/pause", "/api/v1/reconcile"):
        refused = httpx.post(server.url + path, headers=_bearer(viewer))
        assert refused.status_code == 403, path
        assert "needs the operator role; vera is viewer of tenant default" in refused.json()["detail"]
    assert store.rollout(FLEET).paused is False
    with httpx.Client(base_url=server.url) as browser:  # the dashboard's form, token typed in
        browser.get(f"/fleets/{FLEET}")
        page = browser.post(f"/fleets/{FLEET}/rollout/pause", data={"csrf": browser.cookies["origami_csrf"],
                                                                    "token": viewer})
    assert page.status_code == 403 and "needs the operator role" in page.text
    assert store.rollout(FLEET).paused is False
    assert not [e for e in store.events() if e.reason == "Paused"]


def test_actions_are_recorded_with_role_and_operator(single):
    server, store, tokens = single
    admin = tokens.create("ada", role="admin")
    done = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause", headers=_bearer(admin))
    assert done.status_code == 200 and store.rollout(FLEET).paused is True
    assert store.events()[-1].message == "admin ada (api): rollout pause"


def test_only_an_admin_manages_tokens_and_only_of_its_tenant(single):
    server, store, tokens = single
    operator, admin = tokens.create("olga"), tokens.create("ada", role="admin")
    tokens.create("eve", tenant="other", role="admin")
    assert httpx.get(server.url + "/api/v1/tokens", headers=_bearer(operator)).status_code == 403
    refused = httpx.post(server.url + "/api/v1/tokens", json={"name": "x", "role": "admin"}, headers=_bearer(operator))
    assert refused.status_code == 403 and "needs the admin role" in refused.json()["detail"]
    made = httpx.post(server.url + "/api/v1/tokens", json={"name": "vic", "role": "viewer"}, headers=_bearer(admin))
    assert made.status_code == 201
    new = made.json()["token"]
    assert tokens.principal(new).role == "viewer" and tokens.principal(new).tenant == "default"
    held = httpx.get(server.url + "/api/v1/tokens", headers=_bearer(admin)).json()
    assert {h["name"] for h in held} == {"olga", "ada", "vic"}  # never eve, of another tenant
    assert all("token" not in h for h in held)


def test_a_token_of_a_tenant_this_controller_does_not_serve_reads_nothing(single):
    server, _, tokens = single
    stranger = tokens.create("sam", tenant="other", role="admin")
    refused = httpx.get(server.url + "/api/v1/status", headers=_bearer(stranger))
    assert refused.status_code == 403 and "tenant other" in refused.json()["detail"]


# --- two tenants on one server ------------------------------------------------------------------------
@pytest.fixture
def two(tmp_path):
    stores = {}
    for name in ("acme", "globex"):
        (tmp_path / name).mkdir()
        stores[name] = seeded_store(tmp_path / name)  # the same object names in both: scoping must tell them apart
        stores[name].tenant = name
        stores[name].emit("Fleet", FLEET, "Marker", f"only {name} sees this")
    stores["globex"].put_object(stores["globex"].object("Fleet", FLEET).__class__("Fleet", "globex-only"))
    tokens = TokenStore(tmp_path / TOKEN_FILE)
    app = create_tenant_app([TenantBoard(n, s) for n, s in stores.items()], tokens=tokens)
    server = DashboardServer(app, "127.0.0.1", 0).start()
    yield server, stores, tokens
    server.stop()


def test_each_tenant_sees_only_its_objects_events_and_metrics(two):
    server, stores, tokens = two
    acme = tokens.create("ann", tenant="acme", role="viewer")
    assert httpx.get(server.url + "/api/v1/status").status_code == 401  # anonymous: whose objects?
    fleets = httpx.get(server.url + "/api/v1/fleets", headers=_bearer(acme)).json()
    assert "globex-only" not in {f["name"] for f in fleets}
    assert httpx.get(server.url + "/api/v1/fleets/globex-only", headers=_bearer(acme)).status_code == 404
    events = httpx.get(server.url + "/api/v1/events", headers=_bearer(acme)).json()
    assert "only acme sees this" in [e["message"] for e in events]
    assert not [e for e in events if "globex" in e["message"]]
    metrics = httpx.get(server.url + "/metrics", headers=_bearer(acme)).text
    assert "globex-only" not in metrics and 'name="mcu"' in metrics
    with httpx.stream("GET", server.url + "/api/v1/events/stream", headers=_bearer(acme)) as stream:
        seen = ""
        for chunk in stream.iter_text():
            seen += chunk
            if "only acme sees this" in seen:
                break
    assert "globex" not in seen


def test_an_operator_of_one_tenant_cannot_act_on_anothers_fleet(two):
    server, stores, tokens = two
    acme = tokens.create("ann", tenant="acme", role="operator")
    refused = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause", headers=_bearer(acme, "globex"))
    assert refused.status_code == 403 and "for tenant acme" in refused.json()["detail"]
    assert httpx.get(server.url + "/api/v1/status", headers=_bearer(acme, "globex")).status_code == 403
    assert stores["globex"].rollout(FLEET).paused is False and stores["acme"].rollout(FLEET).paused is False
    done = httpx.post(server.url + f"/api/v1/fleets/{FLEET}/rollout/pause", headers=_bearer(acme, "acme"))
    assert done.status_code == 200
    assert stores["acme"].rollout(FLEET).paused is True and stores["globex"].rollout(FLEET).paused is False
    assert stores["acme"].events()[-1].message == "operator ann (api, tenant acme): rollout pause"


def test_the_remote_cli_of_one_tenant_is_refused_on_another(two, tmp_path, capsys):
    from controller.cli.main import main

    server, stores, tokens = two
    token_file = tmp_path / "ann.token"
    token_file.write_text(tokens.create("ann", tenant="acme", role="operator") + "\n")
    code = main(["rollout", "pause", FLEET, "--server", server.url, "--token-file", str(token_file),
                 "--tenant", "globex"])
    assert code != 0 and "403" in capsys.readouterr().err
    assert stores["globex"].rollout(FLEET).paused is False
    viewer_file = tmp_path / "vic.token"
    viewer_file.write_text(tokens.create("vic", tenant="globex", role="viewer") + "\n")
    assert main(["rollout", "pause", FLEET, "--server", server.url, "--token-file", str(viewer_file)]) != 0
    assert "needs the operator role" in capsys.readouterr().err
    assert stores["globex"].rollout(FLEET).paused is False


def test_a_browser_session_stays_in_its_tenant(two):
    server, stores, tokens = two
    acme = tokens.create("ann", tenant="acme", role="operator")
    globex = tokens.create("gus", tenant="globex", role="operator")
    with httpx.Client(base_url=server.url) as browser:
        assert browser.get("/").status_code == 303  # to /login
        browser.get("/login")
        csrf = browser.cookies["origami_csrf"]
        assert browser.post("/login", data={"csrf": csrf, "token": acme, "next": "/"}).status_code == 303
        assert "globex-only" not in browser.get("/").text
        assert browser.get("/fleets/globex-only").status_code == 404
        # a globex token typed into acme's page acts nowhere: the page is acme's
        page = browser.post(f"/fleets/{FLEET}/rollout/pause", data={"csrf": csrf, "token": globex})
        assert page.status_code == 403
    assert stores["globex"].rollout(FLEET).paused is False and stores["acme"].rollout(FLEET).paused is False


def test_events_of_a_shared_state_file_stay_with_their_tenant(tmp_path):
    one = StateStore(tmp_path / "s.db", tenant="acme")
    other = StateStore(tmp_path / "s.db", tenant="globex")
    one.emit("Fleet", "f", "X", "acme's")
    other.emit("Fleet", "f", "X", "globex's")
    assert [e.message for e in one.events()] == ["acme's"] and [e.message for e in other.events()] == ["globex's"]
