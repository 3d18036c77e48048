"""`--server URL`: every operator command reads a running controller's API and prints exactly what it
prints from the local state store (one printing path, two sources); actions go through the API
with the operator token, and a refusal exits non-zero with the API's reason."""
from __future__ import annotations

import types

import pytest

from controller.cli import output
from controller.cli.main import main
from tests.web_seed import FLEET
from tests.web_seed import serve_collected

NOW = 1_900_000_000.0  # ages ("3m") are computed from the clock: one clock for both runs


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote-cli")
    with serve_collected(tmp) as (server, store, index, token):
        (tmp / "token").write_text(token + "\n")
        yield server, tmp, store


def run(capsys, monkeypatch, *argv) -> tuple[int, str, str]:
    monkeypatch.setattr(output, "time", types.SimpleNamespace(time=lambda: NOW))
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


READS = [
    ("status",), ("get", "devices"), ("get", "fleets"), ("get", "fleet", FLEET), ("get", "models"),
    ("get", "datasets"), ("describe", f"fleet/{FLEET}"), ("describe", "model/digits"), ("describe", "dataset/digits"),
    ("describe", "device/dev-5"), ("describe", "device/dev-0"), ("events",), ("events", "--for", f"fleet/{FLEET}"),
    ("events", "--since", "1h", "--limit", "2"), ("events", "--since", "2"), ("rollout", "status", FLEET),
    ("samples", "ls"), ("samples", "ls", "--limit", "3", "--device", "dev-1"), ("samples", "ls", "--unlabelled"),
    ("samples", "ls", "--label", "shake"), ("samples", "ls", "--counts"), ("samples", "ls", "--rejected"),
]


@pytest.mark.parametrize("argv", READS, ids=" ".join)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_remote_output_is_the_local_output(served, capsys, monkeypatch, argv, fmt):
    server, state_dir, _ = served
    local = run(capsys, monkeypatch, *argv, "-o", fmt, "--state-dir", str(state_dir)) if argv[0] != "rollout" else \
        run(capsys, monkeypatch, *argv, "--state-dir", str(state_dir))
    remote = run(capsys, monkeypatch, *argv, "-o", fmt, "--server", server.url) if argv[0] != "rollout" else \
        run(capsys, monkeypatch, *argv, "--server", server.url)
    assert local[0] == 0 and local[1].strip(), local
    assert remote == local


@pytest.mark.parametrize("argv", [("get", "fleet", "nope"), ("describe", "fleet/nope"), ("describe", "device/nope"),
                                  ("rollout", "status", "nope")], ids=" ".join)
def test_not_found_is_the_same_error_both_ways(served, capsys, monkeypatch, argv):
    server, state_dir, _ = served
    local = run(capsys, monkeypatch, *argv, "--state-dir", str(state_dir))
    remote = run(capsys, monkeypatch, *argv, "--server", server.url)
    assert local[0] == 1 and remote == local


def test_the_environment_names_the_server(served, capsys, monkeypatch):
    server, state_dir, _ = served
    monkeypatch.setenv("ORIGAMI_SERVER", server.url)
    from_env = run(capsys, monkeypatch, "get", "fleets")  # parsed after the variable is set
    assert from_env == run(capsys, monkeypatch, "get", "fleets", "--state-dir", str(state_dir))


def test_actions_through_the_server_need_the_token_and_say_why_they_are_refused(served, capsys, monkeypatch):
    server, state_dir, store = served
    monkeypatch.delenv("ORIGAMI_TOKEN", raising=False)
    monkeypatch.delenv("ORIGAMI_TOKEN_FILE", raising=False)
    code, _, err = run(capsys, monkeypatch, "rollout", "pause", FLEET, "--server", server.url)
    assert code == 2 and "needs an operator token" in err and not store.rollout(FLEET).paused
    token = str(state_dir / "token")
    code, _, err = run(capsys, monkeypatch, "rollout", "pause", "nope", "--server", server.url, "--token-file", token)
    assert code == 1 and "fleet 'nope' has no rollout yet" in err  # the API's reason
    code, out, _ = run(capsys, monkeypatch, "rollout", "pause", FLEET, "--server", server.url, "--token-file", token)
    assert code == 0 and "pause recorded by operator" in out and store.rollout(FLEET).paused
    code, out, _ = run(capsys, monkeypatch, "rollout", "resume", FLEET, "--server", server.url, "--token-file", token)
    assert code == 0 and not store.rollout(FLEET).paused


def test_labels_through_the_server_are_recorded_with_the_operator(served, capsys, monkeypatch):
    server, state_dir, store = served
    token = str(state_dir / "token")
    code, out, _ = run(capsys, monkeypatch, "samples", "label", "idle", "--session", "s-idle", "--server", server.url,
                       "--token-file", token)
    assert code == 0 and out.startswith("6 sample(s) labelled 'idle'"), out
    assert store.events()[-1].message.startswith("operator operator (api): label 'idle' on session s-idle")
    code, _, err = run(capsys, monkeypatch, "samples", "label", "idle", "--session", "no-such", "--server", server.url,
                       "--token-file", token)
    assert code == 1 and "no-such" in err
