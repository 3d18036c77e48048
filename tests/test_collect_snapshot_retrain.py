"""Pinned collected snapshots: the digest depends only on the (window, label) set, a label change
takes a new snapshot, and `retrain.minNewSamples` holds the snapshot until enough new labelled
windows arrived; the pipeline reads exactly what is pinned."""
from __future__ import annotations

import numpy as np
import pytest

from controller.collect.index import SampleIndex
from controller.collect.index import Selection
from controller.collect.ingest import Collector
from controller.collect.ingest import _Message
from controller.collect.labels import label_one
from controller.collect.retrain import decide
from controller.collect.snapshot import CollectedSnapshots
from controller.pipeline.collected import load_collected
from controller.pipeline.collected import register_collected_provider
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from device.capture import WindowKey
from device.capture import encode_batch
from specs.v1alpha1.dataset import Dataset
from specs.v1alpha1.protocol import samples_topic

DATASET = Dataset.model_validate({
    "apiVersion": "origami/v1alpha1", "kind": "Dataset", "metadata": {"name": "moves"},
    "spec": {"task": "classification", "retrain": {"minNewSamples": 5},
             "sources": [{"type": "collected", "fleet": "f1", "sensor": "accel", "window": 4,
                          "labels": ["a", "b"]}]}})
SOURCE = DATASET.spec.sources[0]


class World:
    def __init__(self, tmp) -> None:
        self.state = StateStore(tmp / "origami-state.db")
        self.index = SampleIndex(self.state.path)
        self.artifacts = ArtifactStore(tmp / "artifacts")
        self.collector = Collector("mqtt://127.0.0.1:1", self.index, self.artifacts)   # fed directly
        self.provider = CollectedSnapshots(self.index, self.artifacts, store=self.state)
        self.provider.configure({"moves": DATASET})
        self.rng = np.random.default_rng(0)
        self.seq = 0

    def send(self, n: int, label: str | None, device: str = "dev-1", reverse: bool = False) -> None:
        key = WindowKey("accel", 50.0, (4, 2), "float32", "s", label, fleet="f1")
        arrays = [self.rng.standard_normal((4, 2)).astype(np.float32) for _ in range(n)]
        times = [float(self.seq * 100 + i) for i in range(n)]
        messages = [_Message(samples_topic(device), encode_batch(device, key, [a], [t], self.seq * 100 + i, "b"), i, 0)
                    for i, (a, t) in enumerate(zip(arrays, times))]
        self.seq += 1
        self.collector.ingest(messages[::-1] if reverse else messages)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    register_collected_provider(None)
    w.index.close()


def test_same_windows_give_the_same_digest_whatever_the_arrival_order(tmp_path):
    digests = []
    for run, reverse in (("one", False), ("two", True)):
        w = World(tmp_path / run)
        w.send(6, "a", reverse=reverse)
        w.send(4, "b", reverse=not reverse)
        digests.append(w.provider.digest(SOURCE))
        w.index.close()
    assert digests[0] == digests[1]


def test_retrain_policy_holds_the_snapshot_until_enough_new_samples(world):
    world.send(6, "a")
    world.send(4, "b")
    first = world.provider.digest(SOURCE)
    world.send(3, "b")                                    # below minNewSamples=5: same snapshot
    assert world.provider.digest(SOURCE) == first
    assert len(world.provider.samples(SOURCE).labels) == 10
    world.send(4, None)                                   # unlabelled windows never count
    world.send(2, "c")                                    # nor labels the dataset does not list
    assert world.provider.digest(SOURCE) == first
    world.send(2, "a")                                    # 3 + 2 = 5 new labelled: a new snapshot
    second = world.provider.digest(SOURCE)
    assert second != first
    register_collected_provider(world.provider)
    x, y, classes = load_collected(SOURCE)                # what the pipeline reads: exactly the pinned set
    assert x.shape == (15, 4, 2) and classes == ["a", "b"] and int((y == 1).sum()) == 7
    reasons = [e.reason for e in world.state.events(kind="Dataset", name="moves")]
    assert reasons == ["SnapshotPinned", "SnapshotPinned"]


def test_a_label_change_takes_a_new_snapshot_and_the_old_one_keeps_its_labels(world):
    world.send(5, "a")
    world.send(5, "b")
    first = world.provider.digest(SOURCE)
    old_pin = world.index.pin(next(iter(p["source_key"] for p in world.index.pins())))["manifest"]
    one = world.index.select(Selection(labels=("a",)), limit=1)[0]
    label_one(world.index, [one.id], "b")
    changed = world.provider.digest(SOURCE)
    assert changed != first
    assert world.provider.load(old_pin).labels.count("a") == 5     # the old snapshot still says "a"
    assert world.provider.samples(SOURCE).labels.count("a") == 4
    label_one(world.index, [one.id], "a")
    assert world.provider.digest(SOURCE) == first                 # the same samples and labels again
    label_one(world.index, [one.id], None)                        # unlabelled: it leaves the snapshot
    assert len(world.provider.samples(SOURCE).labels) == 9
    label_one(world.index, [one.id], "a")                         # back, but as 1 new sample: below the policy
    assert len(world.provider.samples(SOURCE).labels) == 9


def test_decide_is_pure():
    assert decide(None, {}, 5).take is False
    assert decide(None, {1: "a"}, 5).reason == "FirstSnapshot"
    assert decide({1: "a"}, {1: "a", 2: "a"}, 5).reason == "BelowThreshold"
    assert decide({1: "a"}, {1: "a", 2: "a"}, None).reason == "NewSamples"
    assert decide({1: "a"}, {1: "b"}, 5).reason == "LabelsChanged"
    assert decide({1: "a"}, {1: "a"}, 5).reason == "NothingNew"
