"""The API returns what `origami ... --output json` prints for the same state store (the CLI with its
times in RFC 3339, the API with epoch seconds), and adds rollout progress per strategy step and per
board class."""
from __future__ import annotations

import json

import httpx
import pytest

from controller.cli.main import main
from controller.cli.output import with_rfc3339_times
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from tests.web_seed import FLEET
from tests.web_seed import seeded_store


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-cli")
    store = seeded_store(tmp)
    tokens, _ = ensure_operator_token(tmp)
    with DashboardServer(create_app(store, tokens=tokens), "127.0.0.1", 0) as server:
        yield server, tmp


def cli_json(capsys, *argv) -> object:
    capsys.readouterr()
    assert main([*argv, "--output", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("argv, path", [
    (("status",), "/api/v1/status"),
    (("get", "devices"), "/api/v1/devices"),
    (("get", "fleets"), "/api/v1/fleets"),
    (("get", "models"), "/api/v1/models"),
    (("get", "datasets"), "/api/v1/datasets"),
    (("events", "--limit", "0"), "/api/v1/events?limit=10000"),
    (("describe", "device/dev-0"), "/api/v1/devices/dev-0"),
])
def test_api_equals_the_cli_json(served, capsys, argv, path):
    server, state_dir = served
    api = httpx.get(server.url + path).json()
    cli = cli_json(capsys, *argv, "--state-dir", str(state_dir))
    if path.startswith("/api/v1/devices/"):
        assert api.pop("capabilities") == api["hello"]["capabilities"]  # added by the API
    assert with_rfc3339_times(api) == cli


def test_fleet_detail_is_the_cli_describe_plus_progress(served, capsys):
    server, state_dir = served
    api = httpx.get(f"{server.url}/api/v1/fleets/{FLEET}").json()
    cli = cli_json(capsys, "describe", f"fleet/{FLEET}", "--state-dir", str(state_dir))
    progress, model = api.pop("progress"), api.pop("model")
    assert with_rfc3339_times(api) == cli and model is None  # no applied commit in this store: the model is unknown
    assert (progress["members"], progress["updated"], progress["pending"], progress["failed"]) == (6, 1, 1, 1)
    assert [(s["step"], s["quota"], s["state"]) for s in progress["steps"]] == [
        (0, 1, "done"), (1, 3, "current"), (2, 5, "upcoming"), (3, 6, "upcoming")]
    # Without the applied specs, members by board are the devices assigned to the fleet.
    boards = {b["board"]: b for b in progress["boards"]}
    assert boards["pico"] == {"board": "pico", "members": 1, "updated": 1, "pending": 0, "failed": 0, "waiting": 0}
    assert boards["nano33ble"] == {"board": "nano33ble", "members": 2, "updated": 0, "pending": 1, "failed": 1,
                                   "waiting": 0}


def test_event_filters(served):
    server, _ = served
    warnings = httpx.get(f"{server.url}/api/v1/events", params={"type": "Warning"}).json()
    assert [e["reason"] for e in warnings] == ["DeviceFailed"]
    models = httpx.get(f"{server.url}/api/v1/events", params={"kind": "Model"}).json()
    assert [e["name"] for e in models] == ["digits"]
    first = httpx.get(f"{server.url}/api/v1/events", params={"limit": 1}).json()
    assert len(first) == 1 and first[0]["reason"] == "Built"  # the last N, oldest first
    assert httpx.get(f"{server.url}/api/v1/events", params={"since": -1}).status_code == 422


def test_event_stream_sends_the_trail_as_server_sent_events(served):
    server, _ = served
    seen = []
    with httpx.stream("GET", f"{server.url}/api/v1/events/stream", params={"since": 1}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
            if len(seen) == 2:
                break
    assert [e["seq"] for e in seen] == [2, 3] and seen[0]["reason"] == "DeviceFailed"


def test_pages_fit_a_phone_and_the_progress_bar_speaks(served):
    server, _ = served
    page = httpx.get(f"{server.url}/fleets/{FLEET}").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'role="progressbar"' in page and 'aria-valuetext="1 of 6 updated"' in page
