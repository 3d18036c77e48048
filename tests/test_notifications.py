"""Notifications from the controller: a signed push webhook wakes the loop, the new commit applies, and
a stand-in for the forge's API receives its commit status, a Slack-compatible message and a generic
JSON webhook; an invalid commit gets a failure status. Delivery is bounded and never blocks the loop."""
from __future__ import annotations

import hashlib
import hmac
import io
import re
import threading
import urllib.request

import git
import httpx
import pytest

from controller.devices.signing import Signer
from controller.notifications.config import Sink
from controller.notifications.config import load_sinks
from controller.notifications.notifier import Notifier
from controller.notifications.notifier import deliver
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.git import GitSource
from controller.state import StateStore
from controller.web.server import start_dashboard
from specs.errors import UsageError
from tests.forge import Forge
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import NoDevices
from tests.reconcile_specs import commit
from tests.waiting import wait_until

SECRET = b"0123456789abcdef-webhook-secret"
HOUR = 3600.0


def _config(tmp_path, forge: Forge):
    (tmp_path / "gh-token").write_text("gh-secret-token\n")
    (tmp_path / "slack-url").write_text(f"{forge.url}/slack/T000/B000/XXXX\n")
    path = tmp_path / "notifications.yaml"
    path.write_text(f"""notifications:
  - {{type: webhook, url: "{forge.url}/hook"}}
  - {{type: slack, urlFile: "{tmp_path / 'slack-url'}", reasons: [CommitInvalid, RolloutHalted]}}
  - {{type: github, repository: acme/specs, tokenFile: "{tmp_path / 'gh-token'}", api: "{forge.url}"}}
""")
    return path


@pytest.fixture
def world(tmp_path):
    origin = git.Repo.init(tmp_path / "origin", initial_branch="main")
    first = commit(origin, {"dataset.yaml": SINE_DATASET}, "a dataset")
    state = tmp_path / "state"
    store = StateStore(state / "origami-state.db")
    loop = Reconciler(store, GitSource(origin.working_dir, state / "source", interval=HOUR),
                      PipelineBuilder(state / "artifacts"), NoDevices(), Signer.load_or_create(state))
    (tmp_path / "secret").write_bytes(SECRET)
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,), kwargs={"interval": HOUR}, daemon=True)
    with Forge() as forge:
        notifier = Notifier(store.path, load_sinks(_config(tmp_path, forge)), poll=0.1).start()
        server = start_dashboard("127.0.0.1:0", state, store, reconciler=loop, out=io.StringIO(),
                                 webhook_secret_file=str(tmp_path / "secret"))
        runner.start()
        try:
            wait_until(lambda: store.source_state()[1] == first, "the first pass")
            yield server, store, origin, forge, first
        finally:
            stop.set()
            loop.wake()
            runner.join(timeout=30)
            server.stop()
            notifier.stop()


def _push(server, origin, files, message) -> str:
    sha = commit(origin, files, message)
    body = b'{"ref": "refs/heads/main", "after": "%s"}' % sha.encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert httpx.post(f"{server.url}/api/v1/hooks/git", content=body,
                      headers={"X-Hub-Signature-256": signature}).status_code == 202
    return sha


def test_a_webhook_triggered_commit_gets_its_status_and_notifications(world):
    server, store, origin, forge, _ = world
    second = _push(server, origin, {"dataset.yaml": SINE_DATASET.replace("seed: 1", "seed: 2")}, "seed 2")
    [status] = wait_until(lambda: forge.posted(f"/repos/acme/specs/statuses/{second}"), "the commit status")
    assert store.source_state()[1] == second  # applied by the pass the webhook started
    assert status.body["state"] == "success" and status.body["context"] == "origami/specs"
    assert status.body["description"].startswith("Source/specs CommitObserved:")
    assert status.headers["authorization"] == "Bearer gh-secret-token"
    hooks = wait_until(lambda: [r for r in forge.posted("/hook") if r.body["commit"] == second], "the webhook")
    assert hooks[0].body["status"] == "success" and hooks[0].body["event"]["reason"] == "CommitObserved"
    assert forge.posted("/slack/") == []  # this Slack sink only wants failures


def test_an_invalid_commit_gets_a_failure_status_and_a_slack_message(world):
    server, store, origin, forge, first = world
    bad = _push(server, origin, {"dataset.yaml": SINE_DATASET.replace("samples: 300", "samples: -3")}, "broken")
    [status] = wait_until(lambda: forge.posted(f"/statuses/{bad}"), "the failure status")
    assert status.body["state"] == "failure" and "CommitInvalid" in status.body["description"]
    [slack] = wait_until(lambda: forge.posted("/slack/T000/B000/XXXX"), "the Slack message")
    assert set(slack.body) == {"text"} and "does not validate" in slack.body["text"]
    assert store.source_state()[1] == first  # the last good commit stays


def test_retries_are_bounded_and_a_client_error_is_not_retried(tmp_path):
    sink = Sink("webhook", "")
    with Forge() as forge:
        for status, attempts in ((500, 3), (404, 1)):
            forge.status, before = status, len(forge.requests)
            request = urllib.request.Request(f"{forge.url}/hook", data=b"{}", method="POST")
            assert deliver(request, sink, sleep=lambda s: None) is False
            assert len(forge.requests) - before == attempts


def test_a_bad_config_stops_the_start_without_showing_secrets(tmp_path):
    (tmp_path / "empty").write_text("\n")
    cases = {"notifications: [{type: slack}]": "needs url or urlFile",
             "notifications: [{type: github, repository: a/b}]": "needs repository and tokenFile",
             f"notifications: [{{type: slack, urlFile: {tmp_path / 'empty'}}}]": "urlFile empty: the first line",
             "notifications: [{type: webhook, url: 'ftp://x'}]": "expected an http(s):// URL",
             "notifications: [{type: sms, url: 'http://x'}]": "notifications.0.type"}
    for text, error in cases.items():
        (tmp_path / "n.yaml").write_text(text)
        with pytest.raises(UsageError, match=re.escape(error)) as refused:
            load_sinks(tmp_path / "n.yaml")
        assert str(tmp_path) not in str(refused.value)
