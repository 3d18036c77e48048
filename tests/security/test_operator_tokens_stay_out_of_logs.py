"""The operator token must never reach stdout or stderr of a service (journald, CI logs, a log
shipper keep them): the first run hands it over in a 0600 file, `origami operator-token` prints it
only to a terminal. Attacks: read the token from the controller's output; plant a file or a symlink
where the token file goes, so that the token is written where the attacker reads it."""
from __future__ import annotations

import stat

from controller.web import TokenStore
from controller.web import ensure_operator_token
from controller.web.auth import FIRST_TOKEN_FILE
from controller.web.auth import TOKEN_FILE
from tests.reconcile_specs import SINE_DATASET
from tests.security.attacker import origami

DATASET = SINE_DATASET


def _specs(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "dataset.yaml").write_text(DATASET)
    return specs


def test_the_first_token_is_in_a_private_file_never_in_the_output(tmp_path):
    state = tmp_path / "state"
    done = origami("reconcile", str(_specs(tmp_path)), "--once", "--listen", "127.0.0.1:0",
                   "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    token_file = state / FIRST_TOKEN_FILE
    token = token_file.read_text().strip()
    assert len(token) >= 40 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token not in done.stdout + done.stderr
    assert str(token_file) in done.stderr  # the startup line says where it is
    assert TokenStore(state / TOKEN_FILE).verify(token) == "operator"


def test_a_planted_token_file_or_symlink_is_refused_and_no_token_is_made(tmp_path):
    for planted in ("file", "symlink"):
        state = tmp_path / planted
        state.mkdir()
        stolen = tmp_path / f"attacker-reads-{planted}"
        if planted == "file":
            (state / FIRST_TOKEN_FILE).write_text("")
        else:
            (state / FIRST_TOKEN_FILE).symlink_to(stolen)
        done = origami("reconcile", str(_specs(tmp_path / planted)), "--once", "--listen", "127.0.0.1:0",
                       "--state-dir", str(state))
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "operator-token already exists; move it aside" in done.stderr
        assert not (state / TOKEN_FILE).exists() and not stolen.exists()


def test_operator_token_command_never_prints_into_a_pipe(tmp_path):
    tokens, old = ensure_operator_token(tmp_path)
    done = origami("operator-token", "--state-dir", str(tmp_path))  # stdout is a pipe here
    assert done.returncode == 2 and "--out FILE" in done.stderr
    assert tokens.verify(old) == "operator"  # nothing was replaced


def test_operator_token_command_writes_a_new_private_file(tmp_path):
    tokens, old = ensure_operator_token(tmp_path)
    out = tmp_path / "alice.token"
    done = origami("operator-token", "--name", "alice", "--out", str(out), "--state-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    token = out.read_text().strip()
    assert token not in done.stdout + done.stderr and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert tokens.verify(token) == "alice" and tokens.verify(old) == "operator"
    again = origami("operator-token", "--name", "alice", "--out", str(out), "--state-dir", str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr
    assert tokens.verify(token) == "alice"  # the refused run replaced nothing
