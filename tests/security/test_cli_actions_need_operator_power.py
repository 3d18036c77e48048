"""`origami rollout pause|resume|undo|retry` used to write straight into the state store, with no
token and no check of who ran it. Now: through a controller (`--controller URL`) it needs the
operator token like any API client; locally it needs write access to the state directory, which is
operator power. Attacks: act with no token, a wrong token, as a local user who may only read the
state, and have a redirect carry the token to another server."""
from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from controller.state import StateStore
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from tests.conftest import ROOT
from tests.web_seed import FLEET
from tests.web_seed import seeded_store

BOUND_SECONDS = 60


# Root without the capabilities that bypass file permissions: a local account that does not own the
# state directory (a plain other user could not run the venv's Python from root's home).
NOT_THE_OWNER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner,-chown"]


def origami(*argv: str, as_other_user: bool = False, **env: str) -> subprocess.CompletedProcess:
    prefix = NOT_THE_OWNER if as_other_user else []
    return subprocess.run([*prefix, sys.executable, "-m", "controller.cli.main", *argv], capture_output=True,
                          text=True, timeout=BOUND_SECONDS, cwd="/",
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env})


@pytest.fixture
def controller(tmp_path):
    store = seeded_store(tmp_path)
    tokens, token = ensure_operator_token(tmp_path)
    (tmp_path / "token").write_text(token + "\n")
    with DashboardServer(create_app(store, tokens=tokens), "127.0.0.1", 0) as server:
        yield server, store, tmp_path / "token", token


def _untouched(store: StateStore) -> None:
    r = store.rollout(FLEET)
    assert not r.paused and not r.undo_requested and not r.retry_requested
    assert not [e for e in store.events(kind="Fleet", name=FLEET)
                if e.reason in ("Paused", "UndoRequested", "RetryRequested")]


def test_through_the_controller_an_action_without_a_token_is_refused(controller):
    server, store, _, _ = controller
    done = origami("rollout", "pause", FLEET, "--controller", server.url)
    assert done.returncode == 2 and "needs an operator token" in done.stderr and "Traceback" not in done.stderr
    _untouched(store)


def test_through_the_controller_a_wrong_token_is_refused_and_never_echoed(controller, tmp_path):
    server, store, _, _ = controller
    wrong = tmp_path / "wrong-token"
    wrong.write_text("guessed-token-1234567890\n")
    done = origami("rollout", "undo", FLEET, "--controller", server.url, "--token-file", str(wrong))
    assert done.returncode == 1 and "refused the operator token (401" in done.stderr
    assert "guessed-token" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    done = origami("rollout", "undo", FLEET, ORIGAMI_CONTROLLER=server.url, ORIGAMI_TOKEN="guessed")
    assert done.returncode == 1 and "401" in done.stderr
    _untouched(store)


def test_through_the_controller_the_token_acts_and_names_the_operator(controller):
    server, store, token_file, token = controller
    done = origami("rollout", "retry", FLEET, "--controller", server.url, "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr
    assert store.rollout(FLEET).retry_requested
    assert store.events()[-1].message == "operator operator (api): rollout retry"
    done = origami("rollout", "pause", FLEET, ORIGAMI_CONTROLLER=server.url, ORIGAMI_TOKEN_FILE=str(token_file))
    assert done.returncode == 0 and store.rollout(FLEET).paused


def test_a_redirect_does_not_carry_the_token_elsewhere(tmp_path):
    seen: list[str | None] = []

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers.get("Authorization") if self.path.startswith("/elsewhere") else "first")
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting) as trap:
        threading.Thread(target=trap.serve_forever, daemon=True).start()
        try:
            done = origami("rollout", "pause", FLEET, "--controller", f"http://127.0.0.1:{trap.server_port}",
                           ORIGAMI_TOKEN="secret-token-abc")
        finally:
            trap.shutdown()
    assert done.returncode == 2 and "answered 307" in done.stderr
    assert seen == ["first"]  # the redirect was not followed


@pytest.fixture
def readable_state():
    """A state directory of the account `nobody`, readable by everyone (pytest's tmp_path is private)."""
    state = Path(tempfile.mkdtemp(prefix="origami-readable-"))
    store = seeded_store(state)
    store.close()
    state.chmod(0o755)
    for path in (state, *state.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
        if os.geteuid() == 0:
            os.chown(path, 65534, 65534)
    yield state
    shutil.rmtree(state, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run the command as an account that does not own the state")
def test_locally_a_user_who_cannot_write_the_state_dir_is_refused(readable_state):
    done = origami("rollout", "pause", FLEET, "--state-dir", str(readable_state), as_other_user=True)
    assert done.returncode == 1 and "cannot write the state directory" in done.stderr
    assert "--server URL --token-file FILE" in done.stderr and "Traceback" not in done.stderr
    store = StateStore(readable_state / "origami-state.db")
    _untouched(store)
    # Reading stays open to that user.
    assert origami("get", "fleets", "--state-dir", str(readable_state), as_other_user=True).returncode == 0


def test_locally_the_owner_acts_and_the_event_names_the_user(readable_state):
    done = origami("rollout", "retry", FLEET, "--state-dir", str(readable_state))
    assert done.returncode == 0, done.stderr
    store = StateStore(readable_state / "origami-state.db")
    assert store.rollout(FLEET).retry_requested
    event = store.events()[-1]
    assert event.reason == "RetryRequested" and event.message.endswith("(cli): rollout retry")
