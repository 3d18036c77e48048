"""Artifact garbage collection (issue 12 "Budgets"): what fleets run or may roll back to, the current
plan, the last builds and collected samples stay; the rest goes once it is older than the grace
period. Real stores in a temp state directory; a build's files are written as the pipeline writes
them (stage records naming outputs, artifact metadata naming what an artifact was made from)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import pytest

from controller.cli.main import main
from controller.reconciler.maintenance import Maintenance
from controller.reconciler.maintenance import MaintenanceSettings
from controller.reconciler.maintenance import run_gc
from controller.reconciler.wiring import artifact_dir
from controller.state import InstallRecord
from controller.state import ObjectStatus
from controller.state import open_store
from controller.store.artifacts import ArtifactStore
from controller.store.gc import BuildRecord
from controller.store.gc import Item
from controller.store.gc import doomed
from controller.store.gc import reachable
from controller.store.gc import recent_builds
from controller.store.stage_cache import StageCache
from tests.reconcile_specs import repo_code_flags

HOUR = 3600.0


# --- the pure parts --------------------------------------------------------------------------------

def test_reachability_follows_references_through_cycles_and_ignores_unknown_names():
    refs = {"cards": ["train", "squeeze", "card"], "squeeze": ["tflite"], "tflite": ["keras", "squeeze"],
            "keras": ["snapshot"], "orphan": ["snapshot"]}
    assert reachable(["cards"], refs) == {"cards", "train", "squeeze", "card", "tflite", "keras", "snapshot"}
    assert reachable(["tflite", "nowhere"], refs) == {"tflite", "keras", "squeeze", "snapshot", "nowhere"}
    assert reachable([], refs) == frozenset()


def test_the_last_builds_are_counted_per_model_and_per_model_and_board():
    records = [BuildRecord(f"m{i}", "cards", ("m",), float(i)) for i in range(5)]
    records += [BuildRecord("n0", "cards", ("n",), 0.0)]
    records += [BuildRecord(f"b{i}", "bundle", ("m", "rpi4"), float(i)) for i in range(3)]
    records += [BuildRecord("c0", "bundle", ("m", "nano33"), 0.0)]
    assert recent_builds(records, 2) == {"m4", "m3", "n0", "b2", "b1", "c0"}
    assert recent_builds(records, 0) == set()


def test_nothing_newer_than_the_grace_period_goes_and_kept_names_never_do():
    now = 10 * HOUR
    items = [Item("artifact", "kept", 1, 0.0), Item("artifact", "old", 1, 0.0), Item("artifact", "young", 1, now - 60),
             Item("temp", ".tmp-kept", 1, 0.0), Item("temp", ".tmp-writing", 1, now - 1)]
    delete, young = doomed(items, frozenset({"kept", ".tmp-kept"}), now, HOUR)
    assert [i.name for i in delete] == ["old", ".tmp-kept"]  # a temp file goes by age alone
    assert [i.name for i in young] == ["young", ".tmp-writing"]


# --- the stores ------------------------------------------------------------------------------------

@dataclass
class FakeBuild:
    """One model build's files, linked as build_model links them."""

    keys: dict[str, str]
    snapshot: str
    keras: str
    tflite: str
    card: str


def write_build(store: ArtifactStore, cache: StageCache, tag: str, model: str = "kws") -> FakeBuild:
    def key(stage: str) -> str:
        return f"{abs(hash((tag, stage, model))):064x}"[-64:]

    keys = {"dataset": key("dataset"), "train": key("train"), "squeeze/int8": key("squeeze"), "cards": key("cards")}
    snapshot = store.put_bytes(f"snapshot {tag}".encode() * 100,
                               {"kind": "dataset-snapshot", "stage_key": keys["dataset"]})
    keras = store.put_bytes(f"keras {tag}".encode() * 100,
                            {"kind": "keras-model", "stage_key": keys["train"], "dataset_snapshot": snapshot})
    history = store.put_json({"tag": tag}, {"kind": "training-history"})
    tflite = store.put_bytes(f"tflite {tag}".encode() * 100,
                             {"kind": "tflite", "stage_key": keys["squeeze/int8"], "keras_model": keras})
    card = store.put_bytes(f"card {tag}".encode(), {"kind": "model-card"})
    cache.put("dataset", keys["dataset"], {"snapshot": snapshot})
    cache.put("train", keys["train"], {"model": keras, "history": history})
    cache.put("squeeze", keys["squeeze/int8"], {"tflite": tflite})
    cache.put("cards", keys["cards"], {"int8/card.json": card}, {"model": model, "stage_keys": keys})
    return FakeBuild(keys, snapshot, keras, tflite, card)


def age_everything(state_dir, seconds: float, *, written_within: float = float("inf")) -> None:
    """Make every file of the stores (written within the last `written_within` seconds) look `seconds` old."""
    now = time.time()
    for path in (state_dir / ".origami").rglob("*"):
        if path.is_file() and now - path.stat().st_mtime < written_within:
            os.utime(path, (now - seconds, now - seconds))


@pytest.fixture
def world(tmp_path):
    state = open_store(tmp_path)
    store = ArtifactStore(artifact_dir(tmp_path))
    cache = StageCache(store)
    yield tmp_path, state, store, cache
    state.close()


def set_record_time(cache: StageCache, key: str, when: float) -> None:
    os.utime(cache.root / key[:2] / f"{key}.json", (when, when))


def test_gc_keeps_what_fleets_run_and_may_roll_back_to_the_current_build_and_samples(world):
    state_dir, state, store, cache = world
    old, rollback, current = (write_build(store, cache, tag) for tag in ("old", "rollback", "current"))
    firmware = store.put_bytes(b"firmware project", {"kind": "firmware", "model": rollback.tflite})
    segment = store.put_bytes(b"\0" * 4096, {"kind": "sample-segment"})
    desired_only = store.put_bytes(b"what one device was told to run", {"kind": "tflite"})
    unrelated = store.put_bytes(b"x" * 10_000, {"kind": "plot"})
    abandoned = store.root / "objects" / ".tmp-abandoned"
    abandoned.write_bytes(b"half a write")
    age_everything(state_dir, 2 * HOUR)
    base = time.time() - 2 * HOUR
    for i, build in enumerate((old, rollback, current)):  # built in this order
        set_record_time(cache, build.keys["cards"], base + i)
    writing = store.put_bytes(b"a build writing now", {"kind": "tflite"})  # young: a build in progress

    # The state: the model's current keys, a fleet whose releases include the rollback version,
    # a device told to run another artifact, collected samples in a segment.
    state.put_object(ObjectStatus("Model", "kws", detail={"keys": current.keys}))
    state.put_object(ObjectStatus("Fleet", "field", detail={"releases": {
        "kws-aaa": {"rpi4": {"digest": current.tflite}},
        "kws-bbb": {"rpi4": {"digest": rollback.tflite}, "nano33": {"digest": rollback.tflite,
                                                                    "firmware": firmware}}}}))
    state.record_install(InstallRecord("dev-1:1", "dev-1", "field", "kws-ccc", desired_only, "rollout", time.time()),
                         {"artifact": {"manifest": {"digest": desired_only}}})
    with state.transaction() as db:
        db.execute("INSERT INTO samples (device_id, sensor, ts, digest, blob, offset, shape, dtype, rate_hz, "
                   "received_at) VALUES ('dev-1', 'mic', 0, 'w', ?, 0, '[1]', 'float32', 1, 0)", (segment,))

    before = {i.digest for i in store.list()}
    dry = run_gc(state, store, cache, keep_builds=0, dry_run=True)
    assert {i.digest for i in store.list()} == before  # a dry run deletes nothing
    report = run_gc(state, store, cache, keep_builds=0)
    assert (report.count, report.freed_bytes) == (dry.count, dry.freed_bytes)

    left = {i.digest for i in store.list()}
    kept = {current.snapshot, current.keras, current.tflite, current.card,     # the current build, whole
            rollback.tflite, rollback.keras, rollback.snapshot, firmware,       # what the fleet may roll back to
            desired_only, segment, writing}                                     # a device's desired, samples, young
    assert kept <= left
    assert not {old.tflite, old.keras, old.snapshot, old.card, rollback.card, unrelated} & left
    assert not abandoned.exists()
    assert all(cache.is_cached(k) for k in current.keys.values())
    assert cache.get(rollback.keys["squeeze/int8"]) is not None  # the rollback variant is not squeezed again
    assert not any(cache.raw(k) for k in old.keys.values())
    assert report.deleted["artifact"] == 7 and report.deleted["temp"] == 1  # old 5 artifacts, rollback card, plot
    assert report.freed_bytes > 10_000

    again = run_gc(state, store, cache, keep_builds=0)
    assert again.count == 0  # idempotent


def test_keep_builds_keeps_the_last_builds_of_each_model_whole(world):
    state_dir, state, store, cache = world
    builds = [write_build(store, cache, f"b{i}") for i in range(4)]
    other = write_build(store, cache, "other", model="wake")
    age_everything(state_dir, 2 * HOUR)
    base = time.time() - 2 * HOUR
    for i, build in enumerate(builds):
        set_record_time(cache, build.keys["cards"], base + i)
    run_gc(state, store, cache, keep_builds=2)
    for build in builds[2:] + [other]:  # the last two of kws, the only one of wake
        assert all(cache.is_cached(k) for k in build.keys.values())
    for build in builds[:2]:
        assert not store.exists(build.tflite) and not store.exists(build.snapshot)


def test_origami_gc_dry_run_then_for_real(world, capsys):
    state_dir, state, store, cache = world
    write_build(store, cache, "unused")
    age_everything(state_dir, 2 * HOUR)
    state.close()
    assert main(["gc", "--state-dir", str(state_dir), "--keep-builds", "0", "--dry-run", "-o", "json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["deleted"] == {"artifact": 5, "stage": 4}
    assert len(list(store.list())) == 5
    assert main(["gc", "--state-dir", str(state_dir), "--keep-builds", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deleted 5 artifact, 4 stage") and "kept 0" in out
    assert list(store.list()) == []
    reopened = open_store(state_dir, read_only=True)
    try:
        assert [e.reason for e in reopened.events()] == ["GarbageCollected"]
    finally:
        reopened.close()


def test_origami_gc_rejects_a_negative_keep_and_a_bad_duration(world, capsys):
    state_dir = world[0]
    with pytest.raises(SystemExit) as exit_:
        main(["gc", "--state-dir", str(state_dir), "--keep-builds", "-1"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main(["gc", "--state-dir", str(state_dir), "--forget-devices-after", "soon"])
    assert "not a duration" in capsys.readouterr().err


def test_the_loop_collects_at_most_every_interval_and_skips_when_nothing_changed(world):
    state_dir, state, store, cache = world
    now = [time.time()]
    maintenance = Maintenance(state, store, cache, MaintenanceSettings(every_s=600, keep_builds=0, grace_s=HOUR),
                              clock=lambda: now[0])
    garbage = write_build(store, cache, "garbage")
    age_everything(state_dir, 2 * HOUR)
    report = maintenance.after_pass(None, set())
    assert report is not None and report.deleted["artifact"] == 5 and maintenance.collections == 1
    assert not store.exists(garbage.tflite)
    assert [e.reason for e in state.events()] == ["GarbageCollected"]

    now[0] += 60
    assert maintenance.after_pass(None, set()) is None  # within the interval: not even looked at
    now[0] += 600
    assert maintenance.after_pass(None, set()) is None and maintenance.collections == 1  # nothing changed

    young = store.put_bytes(b"new and unreferenced", {"kind": "plot"})
    now[0] += 600
    report = maintenance.after_pass(None, set())
    assert report is not None and report.count == 0 and report.young == 1 and store.exists(young)
    now[0] += 600
    assert maintenance.after_pass(None, set()) is None  # the young one is still within its grace period
    now[0] += HOUR
    report = maintenance.after_pass(None, set())
    assert report is not None and report.deleted == {"artifact": 1} and not store.exists(young)


def test_after_gc_the_kept_builds_of_a_real_pipeline_need_nothing_rebuilt(tmp_path, capsys):
    """Two real builds (another CSV in between); collecting with --keep-builds 1 and no grace keeps the
    newest build's whole chain (plan: nothing to build) and deletes the older one's."""
    import git

    from tests.reconcile_specs import commit
    from tests.test_reconcile_whole_commit import SPECS
    from tests.test_reconcile_whole_commit import points_csv

    origin = git.Repo.init(tmp_path / "specs", initial_branch="main")
    state_dir = tmp_path / "state"
    store = ArtifactStore(artifact_dir(state_dir))
    snapshots = []
    for seed in (5, 6):
        commit(origin, {**SPECS, "data/points.csv": points_csv(120, seed)}, f"points {seed}")
        assert main(["build", origin.working_dir, "--state-dir", str(state_dir), "-q", "-o", "json",
                     *repo_code_flags()]) in (0, 3)
        capsys.readouterr()
        snapshots.append({i.digest for i in store.list() if i.metadata.get("kind") == "dataset-snapshot"})
        age_everything(state_dir, (7 - seed) * HOUR, written_within=HOUR)  # the first build 2 h ago, then 1 h
    (old_snapshot,) = snapshots[0]
    (new_snapshot,) = snapshots[1] - snapshots[0]

    assert main(["gc", "--state-dir", str(state_dir), "--keep-builds", "1", "--gc-grace", "0"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert store.exists(new_snapshot) and not store.exists(old_snapshot)
    assert main(["plan", origin.working_dir, "--state-dir", str(state_dir), "-o", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert (summary["snapshot"], summary["train"], summary["squeeze"], summary["gates"]) == (0, 0, 0, 0)
