"""State store: schema versioning, WAL, durable records, dense event sequence, operator-owned fields."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3

import pytest

from controller.state import Condition
from controller.state import InstallRecord
from controller.state import ObjectStatus
from controller.state import RolloutRecord
from controller.state import StateStore
from controller.state.schema import SCHEMA_VERSION
from specs.errors import StoreError


def test_new_store_is_wal_and_at_the_current_schema(tmp_path):
    store = StateStore(tmp_path / "s.db")
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_a_newer_schema_is_refused_with_an_actionable_message(tmp_path):
    StateStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="upgrade Origami"):
        StateStore(tmp_path / "s.db")


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path):
    (tmp_path / "s.db").write_text("not a database at all" * 100)
    with pytest.raises(StoreError, match="move it aside"):
        StateStore(tmp_path / "s.db")


def test_records_survive_reopening(tmp_path):
    store = StateStore(tmp_path / "s.db")
    store.record_commit("abc", "git", True, [], [("a.yaml", "x: 1")])
    store.record_commit("bad", "git", False, ["a.yaml:1:1: boom"], None)
    store.put_object(ObjectStatus("Model", "m", "abc", "k1",
                                  {"Ready": Condition("Ready", True, "Built", "ok", 1.0)}, None))
    store.observe_device("d1", board="rpi4", labels={"a": "b"}, hello={"board": "rpi4"})
    store.observe_device("d1", reported={"version": "v1"}, reported_version="v1", healthy=True)
    store.put_rollout(RolloutRecord("f", target="v1", phase="progressing", failures=["d9"]))
    store.close()
    store = StateStore(tmp_path / "s.db")
    assert store.source_state() == ("bad", "abc")
    assert store.commit("abc").texts == [("a.yaml", "x: 1")] and not store.commit("bad").valid
    obj = store.object("Model", "m")
    assert obj.is_true("Ready") and obj.desired_key == "k1"
    d = store.device("d1")
    assert (d.board, d.labels, d.reported_version, d.healthy) == ("rpi4", {"a": "b"}, "v1", True)
    assert store.rollout("f").failures == ["d9"]


def test_an_install_is_recorded_once_with_its_desired_state(tmp_path):
    store = StateStore(tmp_path / "s.db")
    rec = InstallRecord("i1", "d1", "f", "v1", "sha256:aa", "canary", 1.0)
    store.record_install(rec, {"version": "v1"})
    with pytest.raises(sqlite3.IntegrityError):
        store.record_install(rec, {"version": "v1"})
    assert [i.install_id for i in store.installs("d1")] == ["i1"]
    assert store.desired()["d1"].install_id == "i1" and store.desired()["d1"].reached_at is None


def test_desired_state_sequence_grows_across_restarts_a_restored_backup_and_a_rollback(tmp_path):
    import shutil

    store = StateStore(tmp_path / "s.db")
    first = store.allocate_sequence(1_000.0)
    assert first == 1_000_000 and store.allocate_sequence(1_000.0) == first + 1   # same millisecond: + 1
    backup = tmp_path / "backup.db"
    shutil.copy(tmp_path / "s.db", backup)
    later = store.allocate_sequence(2_000.0)
    with pytest.raises(RuntimeError), store.transaction():
        store.allocate_sequence(3_000.0)
        raise RuntimeError("killed before the install was recorded")
    store.close()
    reopened = StateStore(tmp_path / "s.db")
    assert reopened.allocate_sequence(1_500.0) == later + 1   # a clock that went back: still forward
    reopened.close()
    restored = StateStore(backup)   # an old backup: the wall clock moves it past what devices saw
    assert restored.allocate_sequence(2_500.0) == 2_500_000 > later


def test_operator_pause_and_undo_are_not_overwritten_by_the_loop(tmp_path):
    loop = StateStore(tmp_path / "s.db")
    operator = StateStore(tmp_path / "s.db")
    record = RolloutRecord("f", target="v1", phase="progressing")
    loop.put_rollout(record)
    assert operator.set_paused("f", True) and operator.request_undo("f")
    record.step = 3
    loop.put_rollout(record)  # the loop's stale copy says paused=False
    got = loop.rollout("f")
    assert got.paused and got.undo_requested and got.step == 3
    assert not operator.set_paused("missing", True)


def test_event_sequence_is_dense_and_a_failed_transaction_leaves_no_gap(tmp_path):
    store = StateStore(tmp_path / "s.db")
    store.emit("Fleet", "f", "A", "one")
    with pytest.raises(RuntimeError), store.transaction():
        store.emit("Fleet", "f", "B", "rolled back")
        raise RuntimeError("crash inside the transaction")
    store.emit("Fleet", "f", "C", "three", warning=True)
    events = store.events()
    assert [e.seq for e in events] == [1, 2] and [e.reason for e in events] == ["A", "C"]
    assert events[1].type == "Warning"
    assert [e.reason for e in store.events(since=1)] == ["C"]
    assert [e.reason for e in store.events(limit=1)] == ["C"]


def _write_forever(path: str, ready) -> None:
    store = StateStore(path)
    ready.set()
    i = 0
    while True:
        with store.transaction():
            store.emit("Fleet", "f", "Tick", str(i))
            store.record_install(InstallRecord(f"i{i}", f"d{i % 7}", "f", f"v{i}", None, "batch", float(i)), {})
        i += 1


def test_sigkill_mid_write_leaves_a_consistent_store(tmp_path):
    path = str(tmp_path / "s.db")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_write_forever, args=(path, ready))
    proc.start()
    assert ready.wait(30)
    reader = StateStore(path, read_only=True)
    while len(reader.events()) < 50:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    store = StateStore(path)
    seqs = [e.seq for e in store.events()]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no torn write
    assert len(store.installs()) == len(seqs)  # event and install landed together or not at all
