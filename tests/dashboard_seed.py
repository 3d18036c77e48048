"""A dashboard over a seeded state store (no training, no devices running): the objects of
tests/web_seed.py plus applied specs that declare objects the loop has not reconciled yet (Pending),
a halted fleet with enough members to page, the variant each board got and why, a real dataset
snapshot and model cards with a confusion matrix per variant. For the browser tests of the pages."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np

from controller.pipeline.datasets import Snapshot
from controller.reconciler.conditions import with_conditions
from controller.state import ObjectStatus
from controller.state import RolloutRecord
from controller.state import StateStore
from controller.state import store as store_module
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from controller.web.pixels import gray_png
from tests.web_seed import COLLECTED_SPECS
from tests.web_seed import FLEET
from tests.web_seed import seed_collected
from tests.web_seed import seeded_store

HALTED = "field"
HALTED_MEMBERS = 60
SPECS = [
    ("dataset.yaml", """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: digits}
spec:
  task: classification
  sources: [{type: packaged, name: sklearn.digits}]
"""),
    ("models.yaml", """apiVersion: origami/v1alpha1
kind: Model
metadata: {name: digits}
spec:
  dataset: digits
  architecture: {preset: mlp, units: [8]}
  training: {epochs: 2, seed: 1}
  variants: [{name: int8, quantization: int8}, {name: float32, quantization: none}]
  gates: {minAccuracy: 0.9, maxSize: 64KiB}
---
apiVersion: origami/v1alpha1
kind: Model
metadata: {name: draft}
spec:
  dataset: digits
  architecture: {preset: mlp, units: [8]}
  training: {epochs: 2, seed: 1}
  variants: [{name: int8, quantization: int8}]
"""),
    ("fleets.yaml", f"""apiVersion: origami/v1alpha1
kind: Fleet
metadata: {{name: {FLEET}}}
spec:
  model: digits
  selector: {{boards: [nano33ble, pico]}}
---
apiVersion: origami/v1alpha1
kind: Fleet
metadata: {{name: {HALTED}}}
spec:
  model: digits
  selector: {{boards: [esp32s3]}}
  rollout: {{canary: 1, batchSize: 10, failureThreshold: 2}}
---
apiVersion: origami/v1alpha1
kind: Fleet
metadata: {{name: later}}
spec:
  model: draft
  selector: {{boards: [rpi4]}}
"""),
]
BOARD_VIEWS = [{"board": b, "family": "mcu", "ram_budget": ram, "flash_budget": flash, "front": ["int8"],
                "off": {"float32": "not an int8 variant TFLM runs"}}
               for b, ram, flash in (("nano33ble", 196608, 983040), ("pico", 204800, 2031616))]
CLASSES = ["zero", "one", "two"]
COUNTS = {"train": (7, 5, 3), "validation": (2, 1, 1), "test": (2, 2, 1)}
NOTES = {"nano33ble": "int8 TFLM int8 fits (arena 9216 B of 196608 B RAM, 20480 B of 983040 B flash)",
         "pico": "int8 TFLM int8 fits (arena 9216 B of 204800 B RAM, 20480 B of 2031616 B flash)",
         "esp32s3": "int8 TFLM int8 fits (arena 9216 B of 458752 B RAM, 20480 B of 8323072 B flash)"}


def _snapshot(artifacts: ArtifactStore) -> str:
    """8x8 images, a bright row per class, in the counts of COUNTS."""
    arrays = {}
    for split, counts in COUNTS.items():
        labels = np.concatenate([np.full(n, c, dtype=np.int64) for c, n in enumerate(counts)])
        images = np.zeros((len(labels), 8, 8), dtype=np.float32)
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c, :] = 1.0
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    snap = Snapshot(task="classification", classes=CLASSES, arrays=arrays)
    return artifacts.put_bytes(snap.encode(), {"kind": "dataset-snapshot", "dataset": "digits"})


def _cards(artifacts: ArtifactStore, variants: dict[str, str]) -> None:
    """A card per variant whose cards stage names a confusion matrix of its own and the shared plots."""
    outputs = {}
    shared = artifacts.put_bytes(gray_png(np.full((4, 4), 200, dtype=np.uint8)), {"kind": "plot"})
    for n, name in enumerate(variants):
        outputs[f"{name}/confusion.png"] = artifacts.put_bytes(
            gray_png(np.eye(3, dtype=np.uint8) * (100 + 100 * n)), {"kind": "plot"})
        outputs[f"{name}/training_curves.png"] = shared
    key = "c4" * 32
    StageCache(artifacts).run("cards", key, lambda: (outputs, {"model": "digits"}))
    for name, digest in variants.items():
        card = {"model": "digits", "variant": {"name": name, "tflite_digest": digest}, "stage_keys": {"cards": key},
                "task": "classification", "dataset": "digits", "float_metrics": {"accuracy": 0.97},
                "training": {"epochs_run": 2, "history": {"loss": [0.9, 0.4], "val_accuracy": [0.8, 0.93]}},
                "boards": BOARD_VIEWS}
        artifacts.put_bytes(json.dumps(card).encode(), {"kind": "model-card", "model": "digits", "variant": name})


def _halted_fleet(store: StateStore, now: float) -> None:
    states, reasons = {}, {}
    for i in range(HALTED_MEMBERS):
        device = f"{HALTED}-{i:02d}"
        store.observe_device(device, board="esp32s3", labels={"site": "field"},
                             reported_version="v1" if i else "v2", healthy=i != 1)
        states[device] = "updated" if i == 0 else "failed" if i in (1, 2) else "waiting"
        if i in (1, 2):
            reasons[device] = "failed v2: health check failed"
        elif i:
            reasons[device] = "waiting: the rollout halted"
    store.put_rollout(RolloutRecord(HALTED, target="v1", last_good="v1", failed_version="v2", phase="halted",
                                    strategy={"canary": 1, "batchSize": 10, "failureThreshold": 2},
                                    failures=[f"{HALTED}-01", f"{HALTED}-02"]))
    trail = [(600, "RolloutStarted", "rolling out v2 (last good v1)"),
             (590, "InstallsSent", "1 install(s): field-00 (canary)"),
             (420, "StepComplete", "canary of v2: 1 updated, 0 failed"),
             (300, "InstallsSent", "10 install(s): field-01, field-02, …"),
             (120, "RolloutHalted", "v2 failed on 2 member(s) (field-01, field-02), failureThreshold 2; "
                                    "rolling back to v1")]
    for ago, reason, message in trail:  # minutes apart, as a real rollout's events are
        with mock.patch.object(store_module.time, "time", return_value=now - ago):
            store.emit("Fleet", HALTED, reason, message, warning=reason == "RolloutHalted")
    message = "v2 halted after failures on 2 member(s); `origami rollout retry field` tries it again"
    store.put_object(with_conditions(ObjectStatus("Fleet", HALTED, desired_key="v2", detail={
        "version": "v2", "target": "v1", "phase": "halted", "members": HALTED_MEMBERS, "updated": 1, "failed": 2,
        "waiting": HALTED_MEMBERS - 3, "boards": ["esp32s3"], "states": states, "reasons": reasons,
        "releases": {"v2": {"esp32s3": _artifact("esp32s3")}}}),
        now, ready=(False, "RolloutHalted", message), stalled=(True, "RolloutHalted", message)))


def _artifact(board: str) -> dict:
    return {"digest": "ef" * 32, "size": 20480, "target": {"runtime": "tflm", "precision": "int8", "board": board},
            "variant": "int8", "note": NOTES[board]}


@dataclass
class SeededDashboard:
    url: str
    store: StateStore
    artifacts: ArtifactStore
    token: str


@contextmanager
def seeded_dashboard(directory: Path) -> Iterator[SeededDashboard]:
    store = seeded_store(directory)
    artifacts = ArtifactStore(directory / "artifacts")
    now = time.time()
    index = seed_collected(store, artifacts)  # a collected Dataset, gestures, with samples to label
    store.record_commit("5eed" * 10, "seed", True, [], SPECS + COLLECTED_SPECS[:1])
    snapshot = _snapshot(artifacts)
    store.put_object(with_conditions(ObjectStatus("Dataset", "digits", detail={"snapshot": snapshot,
                                                                               "models": ["digits"]}),
                                     now, ready=(True, "Snapshotted", snapshot)))
    fleet = store.object("Fleet", FLEET)
    detail = fleet.fleet.model_dump() | {"releases": {"v2": {b: _artifact(b) for b in ("nano33ble", "pico")}}}
    store.put_object(ObjectStatus("Fleet", FLEET, desired_key=fleet.desired_key, detail=detail,
                                  conditions=fleet.conditions))
    _cards(artifacts, {"int8": "ef" * 32, "float32": "12" * 32})
    _halted_fleet(store, now)
    tokens, token = ensure_operator_token(directory)
    try:
        with DashboardServer(create_app(store, artifacts, tokens=tokens), "127.0.0.1", 0) as server:
            yield SeededDashboard(server.url, store, artifacts, token)
    finally:
        index.close()
