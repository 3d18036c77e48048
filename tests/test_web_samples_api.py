"""Samples and labels over the API: the same rows and counts as `origami samples ls -o json`, pages,
a dataset's collected samples, and label actions (session, time range, one by one) that need the
operator token, change the sample index and are recorded in the event trail with who did them."""
from __future__ import annotations

import json

import httpx
import pytest

from controller.cli.main import main
from controller.cli.output import with_rfc3339_times
from controller.collect.index import Selection
from tests.web_seed import RECORDINGS
from tests.web_seed import serve_collected


@pytest.fixture
def served(tmp_path):
    with serve_collected(tmp_path) as (server, store, index, token):
        yield server, tmp_path, store, index, {"Authorization": f"Bearer {token}"}


def cli_json(capsys, *argv) -> object:
    capsys.readouterr()
    assert main([*argv, "--output", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("argv, params", [
    ((), {}),
    (("--session", "s-shake"), {"session": "s-shake"}),
    (("--device", "dev-0", "--sensor", "accel"), {"device": "dev-0", "sensor": "accel"}),
    (("--label", "shake"), {"label": "shake"}),
    (("--unlabelled", "--fleet", "mcu"), {"unlabelled": "true", "fleet": "mcu"}),
    (("--since", "1700000002", "--until", "1700000005"), {"since": 1700000002, "until": 1700000005}),
])
def test_samples_equal_the_cli_json(served, capsys, argv, params):
    server, state_dir, *_ = served
    api = httpx.get(f"{server.url}/api/v1/samples", params={**params, "limit": 1000})
    cli = cli_json(capsys, "samples", "ls", *argv, "--limit", "0", "--state-dir", str(state_dir))
    assert api.status_code == 200 and with_rfc3339_times(api.json()) == cli and cli  # the CLI's times: RFC 3339
    assert int(api.headers["x-total-count"]) == len(cli)


def test_counts_and_rejections_equal_the_cli_json(served, capsys):
    server, state_dir, *_ = served
    counts = httpx.get(f"{server.url}/api/v1/samples/counts").json()
    assert counts == cli_json(capsys, "samples", "ls", "--counts", "--state-dir", str(state_dir))
    assert counts["labels"] == {"": sum(r[3] for r in RECORDINGS if r[2] is None), "shake": 5}
    rejected = httpx.get(f"{server.url}/api/v1/samples/rejected").json()
    assert with_rfc3339_times(rejected) == cli_json(capsys, "samples", "ls", "--rejected", "--state-dir",
                                                    str(state_dir))
    assert [r["reason"] for r in rejected] == ["Malformed"]


def test_pages_cover_every_sample_once(served):
    server, _, _, index, _ = served
    seen = []
    for offset in range(0, 40, 7):
        answer = httpx.get(f"{server.url}/api/v1/samples", params={"offset": offset, "limit": 7})
        assert int(answer.headers["x-total-count"]) == index.count()
        seen += [s["id"] for s in answer.json()]
    assert seen == [r.id for r in index.select()]


def test_a_dataset_lists_what_its_collected_source_can_take_labelled_or_not(served):
    server, _, _, index, _ = served
    rows = httpx.get(f"{server.url}/api/v1/datasets/gestures/samples", params={"limit": 1000}).json()
    # fleet mcu, sensor accel, windows of 32 readings: not the sine windows, not the 64-reading ones
    expected = sum(n for _, _, _, n, sensor, readings in RECORDINGS if sensor == "accel" and readings == 32)
    assert len(rows) == expected and {r["sensor"] for r in rows} == {"accel"}
    assert {r["label"] for r in rows} == {None, "shake"}
    unlabelled = httpx.get(f"{server.url}/api/v1/datasets/gestures/samples",
                           params={"unlabelled": "true", "device": "dev-1"}).json()
    assert {r["session"] for r in unlabelled} == {"s-mixed"}
    assert httpx.get(f"{server.url}/api/v1/datasets/digits/samples").status_code == 404  # not in the applied specs
    assert httpx.get(f"{server.url}/api/v1/datasets/gestures/samples", params={"source": 1}).status_code == 404


def test_label_a_session_with_the_token(served):
    server, _, store, index, auth = served
    body = {"label": "idle", "session": "s-idle", "dataset": "gestures"}
    answer = httpx.post(f"{server.url}/api/v1/samples/label", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["changed"], result["how"], result["by"]) == (6, "session", "operator")
    assert {r.label for r in index.select(Selection(session="s-idle"))} == {"idle"}
    event = store.events(kind="Dataset", name="gestures")[-1]
    assert (event.seq, event.reason) == (result["event"], "Labelled")
    assert event.message == "operator operator (api): label 'idle' on session s-idle (6 changed)"
    # Versioned: the history says how, and a second identical request changes nothing.
    sample = index.select(Selection(session="s-idle"))[0]
    assert [h["how"] for h in index.label_history(sample.id)] == ["session"]
    again = httpx.post(f"{server.url}/api/v1/samples/label", json=body, headers=auth).json()
    assert again["changed"] == 0


def test_label_by_time_range_and_one_by_one_and_unlabel(served):
    server, _, store, index, auth = served
    mixed = index.select(Selection(session="s-mixed"))
    ranged = {"label": "shake", "since": mixed[0].ts, "until": mixed[1].ts + 0.001, "device": "dev-1",
              "sensor": "accel"}
    assert httpx.post(f"{server.url}/api/v1/samples/label", json=ranged, headers=auth).json()["changed"] == 2
    one = {"label": "idle", "ids": [mixed[3].id]}
    assert httpx.post(f"{server.url}/api/v1/samples/label", json=one, headers=auth).json()["how"] == "one"
    assert [r.label for r in index.select(Selection(session="s-mixed"))] == ["shake", "shake", None, "idle"]
    off = httpx.post(f"{server.url}/api/v1/samples/label", json={"label": None, "ids": [mixed[0].id]}, headers=auth)
    assert off.json()["label"] is None and index.select(Selection(ids=(mixed[0].id,)))[0].label is None
    trail = [e.message for e in store.events(kind="Samples", name="collected")]
    assert trail[-1] == f"operator operator (api): unlabel sample(s) {mixed[0].id} (1 changed)"
    assert len(trail) == 3


def test_labelling_is_refused_without_a_token_and_checked(served):
    server, _, store, index, auth = served
    url = f"{server.url}/api/v1/samples/label"
    before = index.label_revision()
    assert httpx.post(url, json={"label": "idle", "session": "s-idle"}).status_code == 401
    assert httpx.post(url, json={"label": "idle", "session": "s-idle"},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(url, json={"label": "a/b", "session": "s-idle"}, headers=auth).status_code == 422
    assert httpx.post(url, json={"label": "idle", "session": "s-idle", "ids": [1]}, headers=auth).status_code == 422
    assert httpx.post(url, json={"label": "idle", "since": 5, "until": 1}, headers=auth).status_code == 422
    missing = httpx.post(url, json={"label": "idle", "session": "nope"}, headers=auth)
    assert missing.status_code == 404 and "no samples in session 'nope'" in missing.json()["detail"]
    assert httpx.post(url, json={"label": "idle", "ids": [10**9]}, headers=auth).status_code == 404
    assert httpx.post(url, json={"label": "idle", "session": "s-idle", "dataset": "nope"},
                      headers=auth).status_code == 404
    assert index.label_revision() == before
    assert not [e for e in store.events() if e.reason == "Labelled"]


def test_a_dashboard_session_needs_the_csrf_header(served):
    server, _, _, index, auth = served
    with httpx.Client(base_url=server.url) as client:
        client.get("/login")
        csrf = client.cookies["origami_csrf"]
        token = auth["Authorization"][7:]
        assert client.post("/login", data={"csrf": csrf, "token": token, "next": "/"}).status_code == 303
        body = {"label": "idle", "session": "s-idle"}
        assert client.post("/api/v1/samples/label", json=body).status_code == 403
        assert index.count(Selection(labels=("idle",))) == 0
        ok = client.post("/api/v1/samples/label", json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200 and index.count(Selection(labels=("idle",))) == 6
