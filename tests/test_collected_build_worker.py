"""Collected samples in the sandboxed build worker: the job carries the snapshots the controller pinned
when it planned the build, and a worker that finds another pin than its keys say refuses to build
(a model stored under a key that does not describe its data would be served from the cache forever)."""
from __future__ import annotations

import numpy as np
import pytest

from controller.collect.index import SampleIndex
from controller.collect.ingest import Collector
from controller.collect.ingest import _Message
from controller.collect.labels import label_session
from controller.collect.snapshot import CollectedSnapshots
from controller.collect.snapshot import pinned_for_build
from controller.limits import DEFAULT_LIMITS
from controller.loading import load_repository
from controller.pipeline.collected import register_collected_provider
from controller.planning.keys import model_keys
from controller.reconciler.build_worker import run_job
from controller.reconciler.sandbox import _keys_dict
from controller.reconciler.sandbox import _limits_dict
from controller.store.artifacts import ArtifactStore
from device.capture import WindowKey
from device.capture import encode_batch
from specs.errors import StageError
from specs.v1alpha1.protocol import samples_topic
from tests.reconcile_specs import classification_dataset
from tests.reconcile_specs import fleet_yaml
from tests.reconcile_specs import model_yaml

SOURCES = ("{type: generated, generator: gestures, samples: 8}, "
           "{type: collected, fleet: f1, sensor: accel, window: 64, labels: [idle, shake]}")


@pytest.fixture
def world(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "dataset.yaml").write_text(classification_dataset("moves", SOURCES,
                                                               "{train: 0.5, validation: 0.25, test: 0.25, seed: 1}"))
    (specs / "model.yaml").write_text(model_yaml("moves", "moves", "{preset: cnn1d, units: [4]}", "{epochs: 1}"))
    (specs / "fleet.yaml").write_text(fleet_yaml("f1", "moves", "{boards: [rpi4]}", "{canary: 1}"))
    repo = load_repository(specs).require_valid()
    assert len(repo.datasets["moves"].spec.sources) == 2
    index, artifacts = SampleIndex(tmp_path / "state.db"), ArtifactStore(tmp_path / "artifacts")
    rng = np.random.default_rng(0)
    key = WindowKey("accel", 50.0, (64, 3), "float32", "s1", None, fleet="f1")
    windows = [rng.standard_normal((64, 3)).astype(np.float32) for _ in range(4)]
    Collector("mqtt://127.0.0.1:1", index, artifacts).ingest(
        [_Message(samples_topic("dev-1"), encode_batch("dev-1", key, windows, [0.0, 1.28, 2.56, 3.84], 0, "b"), 1, 0)])
    provider = CollectedSnapshots(index, artifacts)
    register_collected_provider(provider)
    yield repo, artifacts, provider, index
    register_collected_provider(None)
    index.close()


def job(repo, artifacts, keys, collected) -> dict:
    return {"revision": str(repo.root), "model": "moves", "keys": _keys_dict(keys), "artifacts": str(artifacts.root),
            "limits": _limits_dict(DEFAULT_LIMITS), "allow_repo_code": False, "collected": collected}


def test_the_worker_refuses_a_snapshot_pinned_after_its_keys(world):
    repo, artifacts, provider, index = world
    label_session(index, "s1", "idle")
    planned = model_keys(repo, "moves")                                # pins the first snapshot
    label_session(index, "s1", "shake")
    model_keys(repo, "moves")                                          # the next pass pins another
    with pytest.raises(StageError, match="pinned anew after this build was planned"):
        run_job(job(repo, artifacts, planned, pinned_for_build(provider, repo.datasets["moves"].spec.sources)),
                lambda **_: None)


def test_a_dataset_without_collected_sources_hands_the_worker_nothing(world):
    repo, _, provider, _ = world
    generated_only = [repo.datasets["moves"].spec.sources[0]]
    assert pinned_for_build(provider, generated_only) is None
