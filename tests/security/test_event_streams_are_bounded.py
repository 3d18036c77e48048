"""Server-sent event streams against the real server: a crowd of clients opening streams cannot
exhaust it, a silent stream ends by itself, and a hostile Last-Event-ID header is a 400, never a
500 (nor a huge integer conversion)."""
from __future__ import annotations

import contextlib

import httpx
import pytest

from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from controller.web.streams import DEFAULT_MAX_STREAMS
from tests.web_seed import seeded_store

LIMIT = 4
BOUND = httpx.Timeout(10.0)  # a bound on a test's waits, not a measurement


@pytest.fixture
def served(tmp_path):
    store = seeded_store(tmp_path)
    tokens, _ = ensure_operator_token(tmp_path)
    app = create_app(store, tokens=tokens, max_streams=LIMIT, stream_idle=0.3)
    app.state.dashboard.stream_poll = 0.05
    with DashboardServer(app, "127.0.0.1", 0) as server:
        yield server, app.state.dashboard


def _open(client: httpx.Client, stack: contextlib.ExitStack, since: int = 0) -> httpx.Response:
    return stack.enter_context(client.stream("GET", f"/api/v1/events/stream?since={since}"))


def test_a_crowd_of_streams_gets_503_and_the_api_keeps_answering(served):
    server, board = served
    with httpx.Client(base_url=server.url, timeout=BOUND,
                      limits=httpx.Limits(max_connections=100)) as client, contextlib.ExitStack() as stack:
        board.stream_idle = 60.0  # the held streams stay open through the test
        held = [_open(client, stack) for _ in range(LIMIT)]
        assert all(r.status_code == 200 for r in held) and board.streams.open == LIMIT
        crowd = [client.get("/api/v1/events/stream") for _ in range(30)]
        assert {r.status_code for r in crowd} == {503}
        assert crowd[0].headers["Retry-After"] == "5" and "retry later" in crowd[0].json()["detail"]
        assert client.get("/api/v1/status").status_code == 200  # the server still serves
    # Closed streams give their places back.
    with httpx.Client(base_url=server.url, timeout=BOUND) as client, contextlib.ExitStack() as stack:
        board.stream_idle = 0.3
        for _ in range(LIMIT):
            assert _open(client, stack).status_code == 200


def test_a_silent_stream_ends_and_gives_its_place_back(served):
    server, board = served
    last = board.store.events()[-1].seq
    with httpx.Client(base_url=server.url, timeout=BOUND) as client:
        with client.stream("GET", f"/api/v1/events/stream?since={last}") as stream:
            body = "".join(stream.iter_text())  # returns because the server ends the stream
        assert body.startswith("retry: 1000") and "event: origami" not in body
    assert board.streams.open == 0


@pytest.mark.parametrize("header", ["9" * 5000, "1" * 21, "99999999999999999999", "-1", "1e9", "١٢".encode(), "abc",
                                    "0x10", "²".encode("latin-1")])
def test_a_hostile_last_event_id_is_a_400(served, header):
    server, board = served
    answer = httpx.get(server.url + "/api/v1/events/stream", headers={"Last-Event-ID": header}, timeout=BOUND)
    assert answer.status_code == 400 and "Last-Event-ID" in answer.json()["detail"]
    assert board.streams.open == 0


def test_a_reconnecting_client_resumes_after_its_last_event(served):
    server, board = served
    events = board.store.events()
    resume = {"Last-Event-ID": str(events[-2].seq)}
    with httpx.Client(base_url=server.url, timeout=BOUND) as client, \
            client.stream("GET", "/api/v1/events/stream", headers=resume) as stream:
        body = "".join(stream.iter_text())
    assert f"id: {events[-1].seq}\n" in body and f"id: {events[-2].seq}\n" not in body


def test_the_default_bound():
    assert DEFAULT_MAX_STREAMS == 32
