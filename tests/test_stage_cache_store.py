"""The content-addressed artifact store and the stage cache over it."""
from __future__ import annotations

import hashlib

import pytest

from controller.planning.keys import stage_key
from controller.store import ArtifactStore
from controller.store import StageCache
from specs.errors import StoreError


def test_same_bytes_same_digest_stored_once(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    a = store.put_bytes(b"weights", {"kind": "tflite"})
    b = store.put_bytes(b"weights", {"variant": "int8"})
    assert a == b == hashlib.sha256(b"weights").hexdigest()
    assert store.read_bytes(a) == b"weights"
    assert store.metadata(a) == {"kind": "tflite", "variant": "int8", "size": 7}
    assert [info.digest for info in store.list()] == [a]
    assert not list((tmp_path / "artifacts" / "objects").rglob(".tmp-*"))


def test_put_file_and_prefix_resolution(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "model.h5"
    source.write_bytes(b"x" * 3_000_000)
    digest = store.put_file(source, {"kind": "keras"})
    assert store.path(digest).read_bytes() == source.read_bytes()
    assert store.resolve(digest[:10]) == digest
    with pytest.raises(StoreError, match="no artifact"):
        store.resolve("ffffffffff" if not digest.startswith("ff") else "0000000000")
    with pytest.raises(StoreError, match="origami build"):
        store.path("0" * 64)


def test_stage_key_changes_with_spec_inputs_and_tools(monkeypatch):
    from controller.planning import keys

    base = stage_key("train", {"epochs": 3}, {"dataset": "d1"})
    assert base == stage_key("train", {"epochs": 3}, {"dataset": "d1"})
    assert base != stage_key("train", {"epochs": 4}, {"dataset": "d1"})
    assert base != stage_key("train", {"epochs": 3}, {"dataset": "d2"})
    assert base != stage_key("squeeze", {"epochs": 3}, {"dataset": "d1"})
    installed = keys._installed()
    monkeypatch.setattr(keys, "_installed", lambda: {**installed, "tensorflow": "9.9.9"})
    assert base != stage_key("train", {"epochs": 3}, {"dataset": "d1"})  # a TensorFlow upgrade re-keys training


def test_cache_runs_a_stage_once_and_reruns_when_outputs_vanish(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    cache = StageCache(store)
    calls = []

    def compute():
        calls.append(1)
        return {"model": store.put_bytes(b"m")}, {"loss": 0.1}

    key = stage_key("train", {}, {})
    first = cache.run("train", key, compute)
    second = StageCache(store).run("train", key, compute)  # a new process sees the record
    assert (first.cached, second.cached) == (False, True)
    assert second.result == {"loss": 0.1} and len(calls) == 1
    assert cache.executions["train"] == 1 and cache.is_cached(key)
    store.path(first.outputs["model"]).unlink()
    assert not cache.is_cached(key)
    cache.run("train", key, compute)
    assert cache.executions["train"] == 2
