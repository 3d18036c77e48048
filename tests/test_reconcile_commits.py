"""The loop on a real git repository and the real pipeline: what each kind of commit changes.

No device side here (the DeviceHub is another module); these pin the commit handling:
a rollout-only commit builds nothing, an invalid commit changes nothing, a model change rebuilds.
"""
from __future__ import annotations

import git
import pytest

from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.git import GitSource
from controller.state import StateStore
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import SINE_MODEL
from tests.reconcile_specs import NoDevices
from tests.reconcile_specs import commit
from tests.reconcile_specs import fleet_yaml

SPECS = {
    "dataset.yaml": SINE_DATASET,
    "model.yaml": SINE_MODEL,
    "fleet.yaml": fleet_yaml("boards", "sine", "{boards: [rpi4]}", "{canary: 1, batchSize: 50%}"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reconcile-commits")
    origin = git.Repo.init(tmp / "origin", initial_branch="main")
    first = commit(origin, SPECS, "sine specs")
    store = StateStore(tmp / "state" / "origami-state.db")
    builder = PipelineBuilder(tmp / "state" / "artifacts")
    loop = Reconciler(store, GitSource(origin.working_dir, tmp / "state" / "source"), builder, NoDevices(),
                      Signer.load_or_create(tmp / "state"))
    result = loop.reconcile_once()
    return origin, store, builder, loop, first, result


def test_first_commit_builds_the_model_and_records_its_status(world):
    origin, store, builder, loop, first, result = world
    assert result.revision == first and result.builds == 1
    model = store.object("Model", "sine")
    assert model.observed_commit == first and model.model.built
    assert model.is_true("Ready") or model.is_true("Stalled")  # gates decide; either is recorded
    assert builder.cache.executions["train"] == 1
    assert store.object("Source", "specs").is_true("Ready")


def test_a_second_pass_on_the_same_commit_does_nothing(world):
    _, store, builder, loop, _, _ = world
    seq = store.events()[-1].seq
    executions = dict(builder.cache.executions)
    result = loop.reconcile_once()
    assert result.actions == 0 and dict(builder.cache.executions) == executions
    assert store.events()[-1].seq == seq  # not even an event


def test_a_rollout_only_commit_retrains_nothing(world):
    origin, store, builder, loop, _, _ = world
    key = store.object("Model", "sine").desired_key
    executions = dict(builder.cache.executions)
    sha = commit(origin, {"fleet.yaml": SPECS["fleet.yaml"].replace("batchSize: 50%", "batchSize: 25%")},
                 "smaller batches")
    result = loop.reconcile_once()
    assert result.revision == sha and result.builds == 0
    assert dict(builder.cache.executions) == executions
    assert store.object("Model", "sine").desired_key == key
    assert store.object("Fleet", "boards").observed_commit == sha


def test_an_invalid_commit_changes_nothing_and_says_why(world):
    origin, store, builder, loop, _, _ = world
    good = store.source_state()[1]
    before = {o.ref: o.desired_key for o in store.objects()}
    bad = commit(origin, {"model.yaml": SPECS["model.yaml"].replace("epochs: 2", "epochs: -1")}, "oops")
    result = loop.reconcile_once()
    assert result.revision == good and result.builds == 0
    assert store.source_state() == (bad, good)
    source = store.object("Source", "specs")
    assert source.is_true("Stalled") and "model.yaml" in source.last_error and "epochs" in source.last_error
    assert {o.ref: o.desired_key for o in store.objects()} == before
    assert [e.reason for e in store.events(kind="Source")][-1] == "CommitInvalid"


def test_a_model_change_after_the_invalid_one_rebuilds(world):
    origin, store, builder, loop, _, _ = world
    sha = commit(origin, {"model.yaml": SPECS["model.yaml"].replace("epochs: 2", "epochs: 3")}, "train longer")
    trained = builder.cache.executions["train"]
    result = loop.reconcile_once()
    assert result.revision == sha and result.builds == 1
    assert builder.cache.executions["train"] == trained + 1
    assert not store.object("Source", "specs").is_true("Stalled")
