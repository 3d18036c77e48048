"""A pass on demand instead of at the next git poll: a signed push webhook (`POST /api/v1/hooks/git`)
and `origami reconcile now --server URL` wake the running loop, which fetches and applies the new
commit at once (the poll interval here is an hour, so nothing else could have applied it)."""
from __future__ import annotations

import hashlib
import hmac
import io
import threading

import git
import httpx
import pytest

from controller.cli.main import main
from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.git import GitSource
from controller.state import StateStore
from controller.web.server import start_dashboard
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import NoDevices
from tests.reconcile_specs import commit
from tests.waiting import wait_until

SECRET = b"0123456789abcdef-webhook-secret"
HOUR = 3600.0


@pytest.fixture
def controller(tmp_path):
    """The loop on a real git repository with an hour between polls, served with the webhook."""
    origin = git.Repo.init(tmp_path / "origin", initial_branch="main")
    first = commit(origin, {"dataset.yaml": SINE_DATASET}, "a dataset")
    state = tmp_path / "state"
    store = StateStore(state / "origami-state.db")
    loop = Reconciler(store, GitSource(origin.working_dir, state / "source", interval=HOUR),
                      PipelineBuilder(state / "artifacts"), NoDevices(), Signer.load_or_create(state))
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,), kwargs={"interval": HOUR}, daemon=True)
    server = start_dashboard("127.0.0.1:0", state, store, reconciler=loop, out=io.StringIO(),
                             webhook_secret_file=str(tmp_path / "secret"))
    runner.start()
    try:
        wait_until(lambda: store.source_state()[1] == first, "the first pass")
        yield server, store, origin, state
    finally:
        stop.set()
        loop.wake()
        runner.join(timeout=30)
        server.stop()


def _next_commit(origin: git.Repo, n: int) -> str:
    return commit(origin, {"dataset.yaml": SINE_DATASET.replace("seed: 1", f"seed: {n}")}, f"seed {n}")


def test_a_signed_push_webhook_applies_the_new_commit_at_once(controller):
    server, store, origin, _ = controller
    second = _next_commit(origin, 2)
    body = b'{"ref": "refs/heads/main", "after": "%s"}' % second.encode()
    answer = httpx.post(f"{server.url}/api/v1/hooks/git", content=body, headers={
        "X-GitHub-Event": "push", "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()})
    assert answer.status_code == 202, answer.text
    assert answer.json()["by"] == "git webhook (push)"
    wait_until(lambda: store.source_state()[1] == second, "the pushed commit applied", timeout=60)
    assert [e.message for e in store.events(kind="Source", name="specs") if e.reason == "ReconcileRequested"] == [
        "git webhook (push): reconcile requested"]


def test_reconcile_now_asks_the_running_controller_for_a_pass(controller, capsys):
    server, store, origin, state = controller
    third = _next_commit(origin, 3)
    token = state / "operator-token"  # the first token, handed over by start_dashboard
    assert main(["reconcile", "now", "--server", server.url, "--token-file", str(token)]) == 0
    assert "reconcile requested by operator operator (api)" in capsys.readouterr().out
    wait_until(lambda: store.source_state()[1] == third, "the commit applied after `reconcile now`", timeout=60)


def test_the_webhook_ping_is_answered_without_a_pass(controller):
    server, store, _, _ = controller
    body = b'{"zen": "hi"}'
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    answer = httpx.post(f"{server.url}/api/v1/hooks/git", content=body,
                        headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature})
    assert answer.status_code == 200 and answer.json()["message"] == "pong"
    assert not [e for e in store.events() if e.reason == "ReconcileRequested"]
