"""A full disk (issue 12 "Budgets"): every write into the state directory that finds no room raises
`StorageError` with what to do, nothing already recorded is lost, the controller keeps running and
retries, and a CLI command ends with the message and a non-zero exit code, never a traceback.

Faults are injected at the stores' one write edge (`atomic_write`), SQLite is filled for real with
`max_page_count`, and a real file-size limit (RLIMIT_FSIZE) is set in a subprocess."""
from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from controller.reconciler.loop import PassResult
from controller.reconciler.loop import Reconciler
from controller.state import RolloutRecord
from controller.state import open_store
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache
from specs.errors import StorageError
from tests.reconcile_specs import NoDevices

ADVICE = "the state directory's disk is full: free space or run `origami gc`"


def no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_an_artifact_or_stage_record_that_finds_no_room_is_a_storage_error_and_leaves_nothing(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path / "artifacts")
    cache = StageCache(store)
    kept = store.put_bytes(b"written before the disk filled", {"kind": "plot"})
    record = cache.put("train", "a" * 64, {"model": kept})
    monkeypatch.setattr("controller.store.artifacts.atomic_write", no_space)
    monkeypatch.setattr("controller.store.stage_cache.atomic_write", no_space)

    with pytest.raises(StorageError, match="disk is full: free space or run `origami gc`") as err:
        store.put_bytes(b"new content", {"kind": "plot"})
    assert str(tmp_path) not in str(err.value)  # no host path
    with pytest.raises(StorageError, match="stage record"):
        cache.put("train", "b" * 64, {"model": kept})
    with pytest.raises(StorageError):  # the same content again refreshes its mtime, but its metadata changes
        store.put_bytes(b"written before the disk filled", {"kind": "plot", "note": "new"})

    objects = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert sorted(p.name for p in objects) == sorted([kept, f"{kept}.json"])  # no partial object, no temp file
    assert store.read_bytes(kept) == b"written before the disk filled"
    assert cache.get("a" * 64) == record and cache.get("b" * 64) is None


def test_a_full_state_database_rolls_back_the_whole_transaction_and_works_once_there_is_room(tmp_path):
    store = open_store(tmp_path)
    store.put_rollout(RolloutRecord("field"))
    store.emit("Fleet", "field", "Before", "recorded before the disk filled")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    with pytest.raises(StorageError, match=ADVICE.replace("`", ".")), store.transaction():
        store.set_paused("field", True)
        for _ in range(50):
            store.emit("Fleet", "field", "Big", "x" * 4000)
    assert [e.reason for e in store.events()] == ["Before"]  # nothing of the failed transaction landed
    assert not store.rollout("field").paused
    store._db.execute(f"PRAGMA max_page_count = {pages * 100}")
    store.set_paused("field", True)  # the store is not stuck in a half transaction
    assert store.rollout("field").paused
    store.close()


class _Source:
    def watch(self, kick, stop) -> None:
        stop.wait()

    def prune(self, keep) -> None:
        pass


def test_the_loop_logs_a_full_disk_emits_an_event_keeps_running_and_retries(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    reconciler = Reconciler(store, _Source(), builder=None, link=NoDevices(), signer=None)
    passes = []

    def reconcile_once():
        passes.append(1)
        if len(passes) <= 2:
            raise StorageError(f"cannot write artifact 0123: {ADVICE}")
        return PassResult(revision="abc")

    monkeypatch.setattr(reconciler, "reconcile_once", reconcile_once)
    result = reconciler.run(threading.Event(), interval=0.01, until=lambda r: r.revision == "abc")
    assert result.revision == "abc" and len(passes) == 3 and reconciler.storage_failures == 2
    events = store.events()
    assert [e.reason for e in events] == ["DiskFull", "DiskFull"] and events[0].type == "Warning"
    assert ADVICE in events[0].message

    with pytest.raises(StorageError):  # `reconcile --once` ends with the error (and its exit code)
        passes.clear()
        reconciler.run(threading.Event(), once=True)
    store.close()


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


WRITER = textwrap.dedent("""
    import os, sys
    from controller.state import open_store
    from controller.store.artifacts import ArtifactStore
    from specs.errors import StorageError

    state = open_store(sys.argv[1])
    store = ArtifactStore(os.path.join(sys.argv[1], "artifacts"))
    attempts = {"file": lambda: store.put_file(os.path.join(sys.argv[1], "model.h5")),
                "bytes": lambda: store.put_bytes(os.urandom(300 * 1024)),
                "database": lambda: [state.emit("Fleet", "f", "Big", os.urandom(20000).hex()) for _ in range(40)]}
    for name, attempt in attempts.items():
        try:
            attempt()
            print(name, "written")
        except StorageError as err:
            print(name, err)
    state.emit("Fleet", "f", "After", "the store still works")
""")


def test_a_real_file_size_limit_gives_storage_errors_and_loses_nothing(tmp_path):
    state = open_store(tmp_path)
    state.emit("Fleet", "f", "Before", "recorded before")
    state.close()
    (tmp_path / "model.h5").write_bytes(b"m" * (1 << 20))
    done = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], preexec_fn=_file_size_limit(256 * 1024),
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert ADVICE in lines["file"] and "model.h5" in lines["file"] and str(tmp_path) not in lines["file"]
    assert ADVICE in lines["bytes"]
    assert "origami-state.db" in lines["database"] and "origami gc" in lines["database"]
    assert "Traceback" not in done.stderr
    leftovers = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert leftovers == []  # no half-written object, no temporary file
    state = open_store(tmp_path, read_only=True)
    reasons = [e.reason for e in state.events()]
    # each event is one transaction: those before the limit landed whole, the one that met it not at all
    assert reasons[0] == "Before" and reasons[-1] == "After" and set(reasons[1:-1]) == {"Big"}
    assert len(reasons) - 2 < 40
    assert all(len(e.message) == 40000 for e in state.events() if e.reason == "Big")
    state.close()


def test_a_cli_command_on_a_full_disk_ends_with_the_advice_and_no_traceback(tmp_path):
    state = open_store(tmp_path)
    state.put_rollout(RolloutRecord("field"))
    state.close()
    done = subprocess.run([sys.executable, "-m", "controller.cli.main", "rollout", "pause", "field",
                           "--state-dir", str(tmp_path)], preexec_fn=_file_size_limit(4096),
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "origami gc" in done.stderr and str(tmp_path) not in done.stderr
    state = open_store(tmp_path, read_only=True)
    assert not state.rollout("field").paused and state.events() == []
    state.close()
