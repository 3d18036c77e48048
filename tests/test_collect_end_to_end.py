"""Closing the loop, end to end on a real Mosquitto: a virtual fleet (the real device agent on
three virtual rpi4 boards) records labelled gesture windows for campaigns its Fleet spec asks for;
the collector stores them; the collected Dataset pins a snapshot whose digest is stable for the same
samples and changes when a label does; the reconciler trains a model on that snapshot (real TF,
small) and rolls it out to the same fleet, and every board reports the new version."""
from __future__ import annotations

import threading
import uuid

import git
import pytest

from controller.collect.campaigns import collect_requests
from controller.collect.index import Selection
from controller.collect.labels import label_one
from controller.collect.labels import label_session
from controller.collect.service import CollectionService
from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.loading import load_repository
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import HubLink
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.git import GitSource
from controller.state import StateStore
from device.virtual.linux_board import VirtualLinuxBoard
from tests.reconcile_specs import classification_dataset
from tests.reconcile_specs import commit
from tests.reconcile_specs import model_yaml
from tests.waiting import wait_until

LABELS = ["idle", "shake", "circle", "tilt"]
WINDOWS_PER_CAMPAIGN = 30          # per device and label

SPECS = {
    "dataset.yaml": classification_dataset(
        "gestures",
        "{type: collected, fleet: gestures, sensor: accel, window: 64, labels: [idle, shake, circle, tilt]}",
        "{train: 0.7, validation: 0.15, test: 0.15, seed: 1}"),
    "model.yaml": model_yaml("gestures", "gestures", "{preset: cnn1d, units: [8, 8]}",
                             "{epochs: 20, seed: 1, learningRate: 0.005}", extra="  gates: {minAccuracy: 0.5}\n"),
    "fleet.yaml": """apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: gestures}
spec:
  model: gestures
  selector: {matchLabels: {collect: TAG}, boards: [rpi4]}
  rollout: {canary: 1, batchSize: 100%, maxUnavailable: 100%, deviceTimeoutSeconds: 60}
  collect: {sensor: accel, rateHz: 50, durationSeconds: DURATION, label: LABEL}
""",
}


def wait(what: str, condition, timeout: float = 60.0):
    return wait_until(condition, what, timeout)


@pytest.fixture
def world(tmp_path, mosquitto):
    tag = "t" + uuid.uuid4().hex[:6]  # never all digits: YAML would read a number
    signer = Signer.load_or_create(tmp_path / "state")
    boards = [VirtualLinuxBoard(f"gest-{i}-{tag}", mosquitto.url, tmp_path / f"dev{i}", signer.public_key,
                                profile="rpi4", labels={"collect": tag}) for i in range(3)]
    collections = [b.collection for b in boards]     # every virtual board records when asked
    for collection in collections:
        collection.pace = 0                              # as fast as the signal can be generated
    for board in boards:
        board.start()
    state = StateStore(tmp_path / "state" / "origami-state.db")
    builder = PipelineBuilder(tmp_path / "state" / "artifacts")
    service = CollectionService(mosquitto.url, state.path, builder.store, store=state,
                                client_id=f"collector-{tag}").start()
    yield dict(tmp=tmp_path, tag=tag, url=mosquitto.url, signer=signer, boards=boards, collections=collections,
               state=state, builder=builder, service=service)
    for c in collections:
        c.close()
    service.stop()
    for board in boards:
        board.stop()


def fleet_yaml(tag: str, label: str | None) -> str:
    text = SPECS["fleet.yaml"].replace("TAG", tag).replace("DURATION", str(64 / 50 * WINDOWS_PER_CAMPAIGN))
    return text.replace("label: LABEL", f"label: {label}") if label else text.replace(", label: LABEL", "")


def fleet_snapshot(state) -> str:
    return state.object("Model", "gestures").model.dataset


def test_collect_label_snapshot_train_and_roll_out_to_the_same_fleet(world):
    tmp, tag, service = world["tmp"], world["tag"], world["service"]
    devices = [b.device_id for b in world["boards"]]
    spec_dir = tmp / "specs"
    spec_dir.mkdir()
    (spec_dir / "dataset.yaml").write_text(SPECS["dataset.yaml"])
    (spec_dir / "model.yaml").write_text(SPECS["model.yaml"])

    # 1. Campaigns: the Fleet spec asks for one gesture at a time (one commit each); the last is recorded
    #    without a label and labelled afterwards by session, as an operator would.
    expected = 0
    for label in LABELS:
        (spec_dir / "fleet.yaml").write_text(fleet_yaml(tag, None if label == "tilt" else label))
        repo = load_repository(spec_dir).require_valid()
        requests = collect_requests("gestures", repo.fleets["gestures"], devices, repo.datasets)
        assert {r.window for r in requests} == {64}
        service.campaigns.apply(requests)
        expected += WINDOWS_PER_CAMPAIGN * len(devices)
        assert service.collector.wait_for(windows=expected, timeout=60), service.collector.stats.to_dict()
        if label == "tilt":
            session = requests[0].session
            assert service.index.count(Selection(session=session, labelled=False)) == WINDOWS_PER_CAMPAIGN * 3
            assert label_session(service.index, session, "tilt") == WINDOWS_PER_CAMPAIGN * 3
    ours = Selection(fleet="gestures", sensor="accel")
    assert service.index.counts_by_label(ours) == {label: WINDOWS_PER_CAMPAIGN * 3 for label in LABELS}
    assert not any(service.index.rejections(d) for d in devices)

    # 2. The snapshot: stable for the same samples, another digest when a label changes, and back.
    repo = load_repository(spec_dir).require_valid()
    service.provider.configure(repo.datasets)
    source = repo.datasets["gestures"].spec.sources[0]
    first = service.provider.digest(source)
    assert service.provider.digest(source) == first
    pinned = service.provider.samples(source)
    assert pinned.digest == first and pinned.x.shape == (WINDOWS_PER_CAMPAIGN * 12, 64, 3)
    some = service.index.select(Selection(fleet="gestures", labels=("shake",)), limit=1)[0]
    label_one(service.index, [some.id], "circle")
    relabelled = service.provider.digest(source)
    assert relabelled != first
    assert service.provider.samples(source).labels.count("circle") == WINDOWS_PER_CAMPAIGN * 3 + 1
    label_one(service.index, [some.id], "shake")
    assert service.provider.digest(source) == first
    assert len(service.index.label_history(some.id)) == 3      # device, one, one: nothing overwritten

    # 3. Train and roll out through the reconciler on a git repository of the same specs.
    (spec_dir / "fleet.yaml").write_text(fleet_yaml(tag, "idle"))
    origin = git.Repo.init(tmp / "origin", initial_branch="main")
    sha = commit(origin, {name: (spec_dir / name).read_text() for name in SPECS}, "gestures from the fleet")
    hub = DeviceHub(world["url"], world["builder"].store, client_id=f"controller-{tag}").start()
    source_git = GitSource(origin.working_dir, tmp / "state" / "source", interval=0.5)
    loop = Reconciler(world["state"], source_git, world["builder"], HubLink(hub), world["signer"])
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True)
    thread.start()
    try:
        def converged():
            obj = world["state"].object("Fleet", "gestures")
            return obj is not None and obj.observed_commit == sha and obj.is_true("Ready") and obj
        state = world["state"]
        try:
            fleet = wait("Fleet/gestures Ready", converged, timeout=150)
        except AssertionError:
            raise AssertionError("; ".join(f"{e.kind}/{e.name} {e.reason}: {e.message}"
                                      for e in state.events()[-12:])) from None
        version = fleet.fleet.version
        assert all(state.device(d).reported_version == version for d in devices)
        model = world["builder"].cache
        assert model.executions["train"] >= 1
        # the model was trained on the pinned collected snapshot
        snapshot_events = [e for e in state.events(kind="Dataset", name="gestures") if e.reason == "SnapshotPinned"]
        assert snapshot_events and first[:12] in snapshot_events[-1].message
        # ... on the pinned collected snapshot, and the int8 variant passed its accuracy gate
        assert state.object("Dataset", "gestures").dataset.snapshot == fleet_snapshot(state)
        variant = state.object("Model", "gestures").model.variants["int8"]
        assert variant.passed and variant.accuracy >= 0.5     # 4 classes: chance is 0.25
    finally:
        stop.set()
        thread.join(timeout=30)
        hub.stop()
