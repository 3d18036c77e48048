"""State store: schema versioning, WAL, durable records, dense event sequence, operator-owned fields,
leases. The tests taking `make_store` run on both backends (SQLite file, PostgreSQL database)."""
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
from specs.errors import StateError
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


def test_records_survive_reopening(make_store):
    store = make_store()
    store.record_commit("abc", "git", True, [], [("a.yaml", "x: 1")])
    store.record_commit("bad", "git", False, ["a.yaml:1:1: boom"], None)
    store.put_object(ObjectStatus("Model", "m", "abc", "k1",
                                  {"Ready": Condition("Ready", True, "Built", "ok", 1.0)}, None))
    store.observe_device("d1", board="rpi4", labels={"a": "b"}, hello={"board": "rpi4"})
    store.observe_device("d1", reported={"version": "v1"}, reported_version="v1", healthy=True)
    store.put_rollout(RolloutRecord("f", target="v1", phase="progressing", failures=["d9"]))
    store.close()
    store = make_store()
    assert store.source_state() == ("bad", "abc")
    assert store.commit("abc").texts == [("a.yaml", "x: 1")] and not store.commit("bad").valid
    obj = store.object("Model", "m")
    assert obj.is_true("Ready") and obj.desired_key == "k1"
    d = store.device("d1")
    assert (d.board, d.labels, d.reported_version, d.healthy) == ("rpi4", {"a": "b"}, "v1", True)
    assert store.rollout("f").failures == ["d9"]


def test_an_install_is_recorded_once_with_its_desired_state(make_store):
    store = make_store()
    rec = InstallRecord("i1", "d1", "f", "v1", "sha256:aa", "canary", 1.0)
    store.record_install(rec, {"version": "v1"})
    with pytest.raises(_integrity_errors()):
        store.record_install(rec, {"version": "v1"})
    assert [i.install_id for i in store.installs("d1")] == ["i1"]
    assert store.desired()["d1"].install_id == "i1" and store.desired()["d1"].reached_at is None


def test_desired_state_sequence_grows_across_restarts_and_a_rollback(make_store):
    store = make_store()
    first = store.allocate_sequence(1_000.0)
    assert first == 1_000_000 and store.allocate_sequence(1_000.0) == first + 1   # same millisecond: + 1
    later = store.allocate_sequence(2_000.0)
    with pytest.raises(RuntimeError), store.transaction():
        store.allocate_sequence(3_000.0)
        raise RuntimeError("killed before the install was recorded")
    store.close()
    reopened = make_store()
    assert reopened.allocate_sequence(1_500.0) == later + 1   # a clock that went back: still forward


def test_desired_state_sequence_after_a_restored_backup_moves_with_the_clock(tmp_path):
    import shutil

    store = StateStore(tmp_path / "s.db")
    store.allocate_sequence(1_000.0)
    shutil.copy(tmp_path / "s.db", tmp_path / "backup.db")
    later = store.allocate_sequence(2_000.0)
    store.close()
    restored = StateStore(tmp_path / "backup.db")   # an old backup: the wall clock moves it past what devices saw
    assert restored.allocate_sequence(2_500.0) == 2_500_000 > later


def _allocate(location: tuple[str, str | None], count: int, start, out) -> None:
    store = StateStore(location[0], url=location[1])
    start.wait(30)
    got = []
    for _ in range(count):
        with store.transaction():  # as the loop does: inside the transaction that records the install
            got.append(store.allocate_sequence(1_000.0))  # one frozen clock: only the counter orders them
    store.close()
    out.put(got)


def test_concurrent_allocators_in_separate_processes_never_share_or_reorder_a_sequence(make_store, tmp_path):
    make_store().close()  # schema in place before the allocators race
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    location = (str(tmp_path / "s.db"), make_store.url)
    procs = [ctx.Process(target=_allocate, args=(location, 200, start, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    every = [n for got in results for n in got]
    assert len(set(every)) == len(every) == 600  # never one sequence twice
    assert all(got == sorted(got) and len(set(got)) == len(got) for got in results)  # each strictly increasing
    assert sorted(every) == list(range(1_000_000, 1_000_600))  # the counter, densely: no allocation lost
    assert make_store().allocate_sequence(1_000.0) == 1_000_600  # and the next one comes after all of them


def test_a_lease_is_renewed_by_its_holder_refused_to_others_and_taken_over_after_expiry(make_store):
    one, two = make_store(), make_store()
    first = one.claim("fleet/f", "replica-1", 100.0, 10.0)
    assert first is not None and first.term == 1
    assert two.claim("fleet/f", "replica-2", 105.0, 10.0) is None  # held and not expired
    renewed = one.claim("fleet/f", "replica-1", 108.0, 10.0)
    assert renewed is not None and (renewed.term, renewed.expires_at) == (1, 118.0) and one.holds(first)
    assert two.claim("fleet/f", "replica-2", 117.0, 10.0) is None  # the renewal counts
    taken = two.claim("fleet/f", "replica-2", 118.5, 10.0)  # replica-1 stopped renewing
    assert taken is not None and taken.term == 2 and taken.holder == "replica-2"
    assert not one.holds(first) and two.holds(taken)  # replica-1 finds out inside its next transaction
    assert one.claim("fleet/f", "replica-1", 119.0, 10.0) is None
    one.release("fleet/f", "replica-1")  # not its lease: nothing happens
    assert one.lease("fleet/f").holder == "replica-2"
    two.release("fleet/f", "replica-2")
    assert one.claim("fleet/f", "replica-1", 119.0, 10.0) is not None


def test_operator_pause_and_undo_are_not_overwritten_by_the_loop(make_store):
    loop = make_store()
    operator = make_store()
    record = RolloutRecord("f", target="v1", phase="progressing")
    loop.put_rollout(record)
    assert operator.set_paused("f", True) and operator.request_undo("f")
    record.step = 3
    loop.put_rollout(record)  # the loop's stale copy says paused=False
    got = loop.rollout("f")
    assert got.paused and got.undo_requested and got.step == 3
    assert not operator.set_paused("missing", True)


def test_event_sequence_is_dense_and_a_failed_transaction_leaves_no_gap(make_store):
    store = make_store()
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


def _write_forever(location: tuple[str, str | None], ready) -> None:
    store = StateStore(location[0], url=location[1])
    ready.set()
    i = 0
    while True:
        with store.transaction():
            store.emit("Fleet", "f", "Tick", str(i))
            store.record_install(InstallRecord(f"i{i}", f"d{i % 7}", "f", f"v{i}", None, "batch", float(i)), {})
        i += 1


def test_sigkill_mid_write_leaves_a_consistent_store(make_store, tmp_path):
    location = (str(tmp_path / "s.db"), make_store.url)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_write_forever, args=(location, ready))
    proc.start()
    assert ready.wait(30)
    reader = make_store(read_only=True)
    while len(reader.events()) < 50:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    store = make_store()
    seqs = [e.seq for e in store.events()]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no torn write
    assert len(store.installs()) == len(seqs)  # event and install landed together or not at all


def _integrity_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def test_a_newer_postgresql_schema_is_refused_with_an_actionable_message(pg_url, tmp_path):
    StateStore(tmp_path / "s.db", url=pg_url).close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE origami_schema SET version = version + 1")
    with pytest.raises(StoreError, match="upgrade Origami"):
        StateStore(tmp_path / "s.db", url=pg_url)


def test_an_unreachable_postgresql_is_a_state_error_without_the_password(tmp_path):
    from tests.conftest import free_port
    from tests.postgres import missing

    if missing() and "driver" in missing():
        pytest.skip(missing())
    url = f"postgresql://origami:hunter2secret@127.0.0.1:{free_port()}/state"
    with pytest.raises(StateError) as caught:
        StateStore(tmp_path / "s.db", url=url)
    message = str(caught.value)
    assert "connection refused" in message and "start PostgreSQL" in message
    assert "hunter2secret" not in message and "postgresql://origami@127.0.0.1" in message


def test_a_missing_postgresql_database_says_how_to_create_it(postgres, tmp_path):
    with pytest.raises(StateError, match="createdb"):
        StateStore(tmp_path / "s.db", url=postgres.url("nowhere"))


def test_a_read_only_store_refuses_writes(make_store):
    make_store().emit("Fleet", "f", "A", "one")
    reader = make_store(read_only=True)
    assert [e.reason for e in reader.events()] == ["A"]
    with pytest.raises(StoreError, match="read-only"):
        reader.emit("Fleet", "f", "B", "two")
