"""`origami reconcile --listen HOST:PORT`: the dashboard beside the loop; the first token is handed
over in a 0600 file, never printed."""
from __future__ import annotations

import httpx
import pytest

from controller.cli.main import main
from controller.state import StateStore
from controller.web import TokenStore
from controller.web.server import parse_listen
from controller.web.server import start_dashboard
from specs.errors import UsageError
from tests.reconcile_specs import SINE_DATASET

DATASET = SINE_DATASET


def test_listen_values():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen("8081") == ("127.0.0.1", 8081)
    with pytest.raises(UsageError, match="HOST:PORT"):
        parse_listen("127.0.0.1:http")


def test_reconcile_with_listen_hands_the_token_over_in_a_file_once(tmp_path, capsys):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "dataset.yaml").write_text(DATASET)
    state = tmp_path / "state"
    argv = ["reconcile", str(specs), "--once", "--listen", "127.0.0.1:0", "--state-dir", str(state)]
    assert main(argv) == 0
    first = capsys.readouterr()
    token = (state / "operator-token").read_text().strip()
    assert "origami: dashboard on http://127.0.0.1:" in first.err
    assert f"first operator token is in {state / 'operator-token'}" in first.err
    assert token not in first.err + first.out
    assert TokenStore(state / "operator-tokens.json").verify(token) == "operator"
    (state / "operator-token").unlink()  # collected
    assert main(argv) == 0
    second = capsys.readouterr().err
    assert "origami: dashboard on" in second and "operator token" not in second
    assert not (state / "operator-token").exists()


def test_started_dashboard_serves_the_store_and_refuses_a_taken_port(tmp_path):
    store = StateStore(tmp_path / "origami-state.db")
    store.emit("Source", "specs", "CommitObserved", "abc valid")
    server = start_dashboard("127.0.0.1:0", tmp_path, store)
    try:
        assert httpx.get(server.url + "/api/v1/events").json()[0]["reason"] == "CommitObserved"
        assert "origami_operator_actions" in httpx.get(server.url + "/metrics").text
        with pytest.raises(UsageError, match="cannot listen"):
            start_dashboard(f"127.0.0.1:{server.port}", tmp_path, store)
    finally:
        server.stop()
