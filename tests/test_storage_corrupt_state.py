"""A damaged state database (issue 12 "Budgets"): a file that is not SQLite, or one that fails
`PRAGMA quick_check`, is refused on open with a `StateError` that names the file within the state
directory and says how to recover; every command that opens the store ends with that message and
exit code 1, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from controller.cli.main import main
from controller.state import DEFAULT_FILE
from controller.state import open_store
from specs.errors import StateError

COMMANDS = {
    "get": ["get", "fleets"],
    "status": ["status"],
    "reconcile --once": ["reconcile", "SPECS", "--once"],
}


def not_sqlite(state_dir) -> None:
    (state_dir / DEFAULT_FILE).write_bytes(b"these are not the pages you are looking for\n" * 200)


def malformed(state_dir) -> None:
    """A real state database whose table pages were overwritten (a torn write, a bad disk)."""
    store = open_store(state_dir)
    with store.transaction():
        for i in range(400):
            store.emit("Fleet", f"fleet-{i}", "Filler", "x" * 200)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = state_dir / DEFAULT_FILE
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(3 * page, len(data) - page, 2 * page):
        data[start + 8:start + 200] = b"\xff" * 192  # cell pointers and cell contents of every other page
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [not_sqlite, malformed], ids=["not-sqlite", "malformed"])
def test_opening_a_damaged_state_database_is_a_state_error_that_says_what_to_do(tmp_path, damage):
    damage(tmp_path)
    for read_only in (False, True):
        with pytest.raises(StateError) as err:
            open_store(tmp_path, read_only=read_only)
        message = str(err.value)
        assert f"the state database {DEFAULT_FILE} in the state directory is damaged" in message
        assert "restore it from a backup" in message and "move it aside" in message
        assert str(tmp_path) not in message  # the file's name, not the host path


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_that_opens_a_damaged_store_ends_with_the_message(tmp_path, capsys, command):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    not_sqlite(state_dir)
    specs = tmp_path / "specs"
    specs.mkdir()
    argv = [str(specs) if a == "SPECS" else a for a in COMMANDS[command]] + ["--state-dir", str(state_dir)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"origami: error: the state database {DEFAULT_FILE} in the state directory is damaged")
    assert "Traceback" not in err


def test_the_real_command_prints_no_traceback(tmp_path):
    malformed(tmp_path)
    done = subprocess.run([sys.executable, "-m", "controller.cli.main", "status", "--state-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "is damaged" in done.stderr and str(tmp_path) not in done.stderr


def test_moving_it_aside_starts_from_an_empty_database(tmp_path):
    not_sqlite(tmp_path)
    (tmp_path / DEFAULT_FILE).rename(tmp_path / f"{DEFAULT_FILE}.damaged")
    store = open_store(tmp_path)
    assert store.devices() == [] and store.events() == []
    store.close()
