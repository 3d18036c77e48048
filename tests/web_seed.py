"""A state store filled through its real API with what a controller records mid-rollout: objects
with conditions, devices with hellos and reports, installs, a rollout, events. For the API tests
that need no running loop; `seed_collected` adds collected samples and a collected Dataset."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.collect.index import NewWindow
from controller.collect.index import Rejection
from controller.collect.index import SampleIndex
from controller.collect.segments import window_digest
from controller.collect.segments import write_segment
from controller.reconciler.conditions import with_conditions
from controller.state import InstallRecord
from controller.state import ObjectStatus
from controller.state import RolloutRecord
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from device.signals import signal_for
from tests.reconcile_specs import model_yaml

FLEET = "mcu"


def seeded_store(directory: Path) -> StateStore:
    store = StateStore(directory / "origami-state.db")
    now = time.time()
    store.put_object(with_conditions(ObjectStatus("Dataset", "digits", detail={"snapshot": "ab" * 32,
                                                                               "models": ["digits"]}),
                                     now, ready=(True, "Snapshotted", "ab" * 32)))
    store.put_object(with_conditions(ObjectStatus("Model", "digits", desired_key="cd" * 32, detail={
        "built": True, "variants": {"int8": {"passed": True, "quantization": "int8", "size": 20480,
                                             "accuracy": 0.95, "mae": None, "arena": 9216, "digest": "ef" * 32,
                                             "failures": [], "tflm": True},
                                    "float32": {"passed": False, "quantization": "none", "size": 81920,
                                                "accuracy": 0.97, "mae": None, "arena": None, "digest": "12" * 32,
                                                "failures": [{"message": "size 81920 B > maxSize 65536 B"}],
                                                "tflm": False}}}),
                                     now, ready=(True, "Built", "1/2 variant(s) pass the gates")))
    for i in range(6):
        board = "nano33ble" if i % 2 else "pico"
        store.observe_device(f"dev-{i}", board=board, labels={"site": "lab"},
                             hello={"deviceId": f"dev-{i}", "capabilities": {"board": board, "ramBytes": 262144}})
    store.put_rollout(RolloutRecord(FLEET, target="v2", last_good="v1", step=1, phase="progressing",
                                    strategy={"canary": 1, "batchSize": 2, "maxUnavailable": 2},
                                    failures=["dev-5"]))
    for i, reached in ((0, True), (1, False), (5, False)):
        store.record_install(InstallRecord(f"dev-{i}:1", f"dev-{i}", FLEET, "v2", "ef" * 32, "canary", now),
                             {"deviceId": f"dev-{i}", "generation": 1})
        if reached:
            store.observe_device(f"dev-{i}", reported={"modelVersion": "v2"}, reported_version="v2", healthy=True)
            store.mark_reached(f"dev-{i}", now)
    store.observe_device("dev-5", reported={"modelVersion": "v1"}, reported_version="v1", healthy=False)
    store.observe_device("dev-4", online=False)
    store.put_object(with_conditions(ObjectStatus("Fleet", FLEET, desired_key="v2", detail={
        "version": "v2", "target": "v2", "phase": "progressing", "members": 6, "updated": 1, "pending": 1,
        "failed": 1, "waiting": 3, "boards": ["nano33ble", "pico"], "paused": False,
        "states": {"dev-0": "updated", "dev-1": "pending", "dev-2": "waiting", "dev-3": "waiting", "dev-4": "waiting",
                   "dev-5": "failed"},
        "reasons": {"dev-1": "has not seen generation 1 (v2) yet", "dev-4": "offline since 2026-12-04T00:00:00Z",
                    "dev-5": "failed v2"}}),
        now, ready=(False, "RollingOut", "1/6 on v2"), reconciling=(True, "RollingOut", "1/6 on v2")))
    store.emit("Fleet", FLEET, "RolloutStarted", "rolling out v2")
    store.emit("Fleet", FLEET, "DeviceFailed", "dev-5 failed v2", warning=True)
    store.emit("Model", "digits", "Built", "1/2 variant(s) pass the gates")
    return store


# --- collected samples ------------------------------------------------------------------------------
COLLECTED_SPECS = [
    ("dataset.yaml", """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: gestures}
spec:
  task: classification
  sources: [{type: collected, fleet: mcu, sensor: accel, window: 32, labels: [idle, shake]}]
"""),
    ("model.yaml", model_yaml("gestures", "gestures", "{preset: cnn1d, units: [8]}", "{epochs: 2, seed: 1}")),
    ("fleet.yaml", """apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: mcu}
spec:
  model: gestures
  selector: {boards: [rpi4], matchLabels: {site: lab}}
"""),
]
# (device, session, label the device gave, windows, sensor, readings per window)
RECORDINGS = [("dev-0", "s-idle", None, 6, "accel", 32), ("dev-1", "s-shake", "shake", 5, "accel", 32),
              ("dev-1", "s-mixed", None, 4, "accel", 32), ("dev-2", "s-sine", None, 3, "sine", 32),
              ("dev-0", "s-long", None, 2, "accel", 64)]


def seed_collected(store: StateStore, artifacts: ArtifactStore) -> SampleIndex:
    """Applied specs with a collected Dataset (gestures, from fleet mcu's accel), and windows from the
    virtual sensors stored the collector's way: one segment in the artifact store, rows in the index."""
    store.record_commit("c0ffee" * 6 + "abcd", "seed", True, [], COLLECTED_SPECS)
    store.put_object(with_conditions(ObjectStatus("Dataset", "gestures", detail={"models": ["gestures"]}),
                                     time.time(), ready=(False, "Waiting", "no labelled samples yet")))
    index = SampleIndex(store.path)
    windows, rows = [], []
    start = 1_700_000_000.0
    for device, session, label, count, sensor, readings in RECORDINGS:
        source = signal_for(sensor, device, 50.0)
        for _ in range(count):
            window = source.window(readings, label or "idle")
            windows.append(window)
            rows.append((device, session, label, sensor, window.shape, start))
            start += readings / 50.0
    blob, offsets = write_segment(artifacts, windows)
    index.add([NewWindow(device, sensor, ts, window_digest(w), blob, off, tuple(shape), "float32", 50.0, session,
                         FLEET, "seed", "boot-1", n, label)
               for n, ((device, session, label, sensor, shape, ts), w, off) in enumerate(zip(rows, windows, offsets))],
              [Rejection("dev-2", "Malformed", "not a valid samples message", "00" * 32, 12, start)],
              {"dev-2": {"messages": 1, "rejected": 1}})
    return index


@contextmanager
def serve_collected(directory: Path) -> Iterator[tuple[DashboardServer, StateStore, SampleIndex, str]]:
    """The dashboard on a free loopback port over a seeded store with collected samples; yields the
    server, the store, the sample index and the operator token."""
    store = seeded_store(directory)
    artifacts = ArtifactStore(directory / "artifacts")
    index = seed_collected(store, artifacts)
    tokens, token = ensure_operator_token(directory)
    try:
        with DashboardServer(create_app(store, artifacts, tokens=tokens), "127.0.0.1", 0) as server:
            yield server, store, index, token
    finally:
        index.close()
