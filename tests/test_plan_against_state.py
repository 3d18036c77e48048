"""`origami plan` compares the specs with the stage cache and the recorded state: only what a change
touches is planned (keys cover the whole commit: data files, modules, device profiles)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from controller.loading import load_repository
from controller.planning.plan import RecordedState
from controller.planning.plan import plan_repository
from controller.state import DesiredRecord
from controller.state import DeviceRecord
from controller.state import ObjectStatus
from controller.state import StateStore
from tests.conftest import EXAMPLES
from tests.conftest import ROOT

VARIANTS = len(load_repository(EXAMPLES / "digits-mixed").models["digits-cnn"].spec.variants)


def _copy(tmp_path):
    shutil.copytree(EXAMPLES / "digits-mixed", tmp_path / "specs")
    return tmp_path / "specs"


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


class Built(set):
    """Stage keys whose outputs are in the store (what `StageCache.is_cached` answers)."""

    def __call__(self, key: str) -> bool:
        return key in self


def _record_applied(store: StateStore, specs, devices=()) -> tuple:
    """Record the state the loop leaves after applying `specs`: every stage built, keys per object."""
    plan = plan_repository(load_repository(specs))
    g = plan.graph
    built = Built()
    for n, key in g.datasets.items():
        store.put_object(ObjectStatus("Dataset", n, "c1", key))
        built.add(key)
    for n, m in g.models.items():
        store.put_object(ObjectStatus("Model", n, "c1", m.cards))
        built |= set(m.all().values())
    for n, f in g.fleets.items():
        store.put_object(ObjectStatus("Fleet", n, "c1", f.version, detail={"strategy_key": f.strategy}))
        built |= set(f.bundles.values())
    return g, built


def _devices(n_by_board):
    out, desired = [], {}
    for board, n in n_by_board.items():
        for i in range(n):
            out.append(DeviceRecord(f"{board}-{i}", board, {}, {}, {}, None, True, True, 0.0, 0.0))
    return out, desired


def test_empty_state_plans_everything_as_new(tmp_path):
    plan = plan_repository(load_repository(_copy(tmp_path)))
    kinds = [a.kind for a in plan.actions]
    assert kinds.count("snapshot") == 1 and kinds.count("train") == 1 and kinds.count("squeeze") == VARIANTS
    assert kinds.count("rollout") == 2 and kinds.count("gates") == 1
    assert {a.reason for a in plan.actions} == {"new"}


def test_applied_state_plans_nothing(tmp_path):
    specs = _copy(tmp_path)
    store = StateStore(tmp_path / "s.db")
    _, built = _record_applied(store, specs)
    plan = plan_repository(load_repository(specs), RecordedState.from_store(store), built)
    assert plan.actions == [] and "No changes" in plan.render_text()


def test_a_rollout_only_change_retrains_nothing_and_updates_no_device(tmp_path):
    specs = _copy(tmp_path)
    store = StateStore(tmp_path / "s.db")
    g, built = _record_applied(store, specs)
    devices, _ = _devices({"rpi4": 3})
    state = RecordedState.from_store(store)
    state.devices = devices
    state.desired = {d.device_id: DesiredRecord(d.device_id, "digits-linux", g.fleets["digits-linux"].version, "1",
                                                {}, 0.0, 0.0) for d in devices}
    built |= set(plan_repository(load_repository(specs), state).graph.fleets["digits-linux"].bundles.values())
    _edit(specs / "fleets.yaml", "batchSize: 50%", "batchSize: 20%")
    plan = plan_repository(load_repository(specs), state, built)
    assert [(a.kind, a.target) for a in plan.actions] == [("strategy", "Fleet/digits-linux")]
    assert plan.to_dict()["devices"] == 0


def test_a_model_change_retrains_and_rolls_out_to_every_member_with_counts_per_board(tmp_path):
    specs = _copy(tmp_path)
    store = StateStore(tmp_path / "s.db")
    _, built = _record_applied(store, specs)
    state = RecordedState.from_store(store)
    state.devices, _ = _devices({"rpi4": 3, "jetson-nano": 2, "esp32s3": 4})
    _edit(specs / "model.yaml", "epochs: 30", "epochs: 40")
    plan = plan_repository(load_repository(specs), state, built)
    assert [a.target for a in plan.of_kind("train")] == ["Model/digits-cnn"]
    assert plan.of_kind("snapshot") == [] and len(plan.of_kind("squeeze")) == VARIANTS
    rollouts = {a.target: a.detail for a in plan.of_kind("rollout")}
    assert rollouts["Fleet/digits-linux"]["devices"] == 5
    assert rollouts["Fleet/digits-linux"]["by_board"] == {"rpi4": 3, "jetson-nano": 2}
    assert rollouts["Fleet/digits-mcu"]["by_board"] == {"esp32s3": 4}
    bundles = sorted(a.target for a in plan.of_kind("bundle"))
    assert "Fleet/digits-linux@rpi4" in bundles and "Fleet/digits-mcu@esp32s3" in bundles


def test_a_variant_change_resqueezes_only_that_variant(tmp_path):
    specs = _copy(tmp_path)
    store = StateStore(tmp_path / "s.db")
    _, built = _record_applied(store, specs)
    _edit(specs / "model.yaml", "clusters: 16", "clusters: 8")
    plan = plan_repository(load_repository(specs), RecordedState.from_store(store), built)
    assert [a.target for a in plan.of_kind("squeeze")] == ["Model/digits-cnn#pruned-clustered-int8"]
    assert plan.of_kind("train") == [] and len(plan.of_kind("rollout")) == 2


def test_plan_cli_reads_the_state_dir_and_prints_json(tmp_path):
    specs = _copy(tmp_path)
    store = StateStore(tmp_path / "origami-state.db")
    _record_applied(store, specs)
    store.close()
    _edit(specs / "dataset.yaml", "seed: 42", "seed: 7")
    out = subprocess.run([sys.executable, "-m", "controller.cli.main", "plan", str(specs), "--state-dir",
                          str(tmp_path), "-o", "json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)["summary"]
    # No artifact store in the state dir: nothing is built, so every stage of the changed dataset runs.
    assert (summary["snapshot"], summary["train"], summary["squeeze"], summary["rollout"]) == (1, 1, VARIANTS, 2)


def test_a_changed_device_profile_rebundles_and_rolls_out_without_retraining(tmp_path):
    specs = _copy(tmp_path)
    store = StateStore(tmp_path / "s.db")
    state = RecordedState.from_store(store)
    state.devices, _ = _devices({"nano33ble-lite": 2})
    g, built = _record_applied(store, specs)
    applied = plan_repository(load_repository(specs), state, built)
    built |= {k for f in applied.graph.fleets.values() for k in f.bundles.values()}
    for name, fleet in applied.graph.fleets.items():
        store.put_object(ObjectStatus("Fleet", name, "c1", fleet.version, detail={"strategy_key": fleet.strategy}))
    state = RecordedState.from_store(store)
    state.devices, _ = _devices({"nano33ble-lite": 2})
    assert plan_repository(load_repository(specs), state, built).of_kind("bundle") == []
    profiles = (specs / "profiles.yaml").read_text()
    _edit(specs / "profiles.yaml", "ram: 68KiB", "ram: 72KiB")
    assert (specs / "profiles.yaml").read_text() != profiles
    plan = plan_repository(load_repository(specs), state, built)
    assert plan.of_kind("train", "squeeze", "snapshot") == []
    assert [a.target for a in plan.of_kind("bundle")] == ["Fleet/digits-mcu@nano33ble-lite"]
    assert [a.target for a in plan.of_kind("rollout")] == ["Fleet/digits-mcu"]
