"""SIGKILL the controller (`origami reconcile` as a subprocess) at points of a rollout chosen by the
test, watched from outside in its SQLite file (after N events, after N installs recorded), restart
it each time, and check: the fleet converges, no device installed anything twice (counted on the
devices' side from their own `Installed` events), and the event trail has no gap.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import git

from controller.devices.signing import Signer
from controller.loading import load_repository
from controller.planning.keys import model_keys
from controller.reconciler.wiring import PipelineBuilder
from controller.reconciler.wiring import artifact_dir
from controller.state import StateStore
from device.virtual.fleet import VirtualFleet
from specs.errors import StoreError
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import SINE_MODEL
from tests.reconcile_specs import commit

ROOT = Path(__file__).resolve().parent.parent
FLEET = """apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: boards}
spec:
  model: sine
  selector: {boards: [rpi4]}
  rollout: {canary: 1, batchSize: 1, maxUnavailable: 1, failureThreshold: 1, deviceTimeoutSeconds: 60}
"""


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


class Controller:
    def __init__(self, origin: Path, state: Path, url: str) -> None:
        self.argv = [sys.executable, "-m", "controller.cli.main", "reconcile", "--git", str(origin),
                     "--interval", "0.5", "--broker", url, "--state-dir", str(state)]
        self.log = open(state / "controller.log", "ab")  # noqa: SIM115  (closed in stop())
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        self.process = subprocess.Popen(self.argv, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait(what: str, condition, timeout: float, controller: Controller) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if controller.process.poll() is not None:
            raise AssertionError(f"controller exited with {controller.process.returncode} while waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fleet_ready(db: Path, version: str | None = None) -> bool:
    if not db.exists():
        return False
    try:
        store = StateStore(db, read_only=True)
        try:
            obj = store.object("Fleet", "boards")
        finally:
            store.close()
    except (sqlite3.OperationalError, StoreError):  # not created or not migrated yet
        return False
    return bool(obj and obj.is_true("Ready") and (version is None or obj.fleet.version == version))


def run_kills(tmp: Path, url: str, devices: int, points: list[tuple[str, int]]) -> None:
    origin = tmp / "origin"
    repo = git.Repo.init(origin, initial_branch="main")
    commit(repo, {"dataset.yaml": SINE_DATASET, "model.yaml": SINE_MODEL, "fleet.yaml": FLEET}, "sine on boards")
    state = tmp / "state"
    state.mkdir()
    # Build once here, into the controller's artifact store: the subprocess then finds every stage cached.
    repo = load_repository(origin).require_valid()
    PipelineBuilder(artifact_dir(state)).build_model(repo, "sine", model_keys(repo, "sine"), lambda what, f: None)
    signer = Signer.load_or_create(state)
    fleet = VirtualFleet(url, tmp / "devices", signer.public_key, {"rpi4": devices},
                         prefix="kill").start()
    db = state / "origami-state.db"
    controller = Controller(origin, state, url)
    try:
        kills = []
        for table, n in points:
            controller.start()
            wait(f"{n} rows in {table}", lambda table=table, n=n: count(db, table) >= n or fleet_ready(db), 90,
                 controller)
            if fleet_ready(db):
                break  # the rollout finished before this point: later points are moot
            controller.kill()
            kills.append((table, count(db, table)))
        controller.start()
        wait("the fleet to converge", lambda: fleet_ready(db) and len(fleet.installs()) == devices, 120, controller)
        controller.stop()
        assert len(kills) == len(points), f"the rollout finished after {len(kills)} kill(s): {kills}"
        installs = fleet.installs()
        assert sorted(installs) == sorted(fleet.device_ids)
        assert all(len(digests) == 1 for digests in installs.values()), installs  # nobody installed twice
        with sqlite3.connect(db) as conn:
            seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
            reasons = [r[0] for r in conn.execute("SELECT reason FROM events ORDER BY seq")]
            versions = {r[0] for r in conn.execute("SELECT reported_version FROM devices")}
        assert seqs == list(range(1, len(seqs) + 1))  # a dense trail: nothing lost across the kills
        assert reasons.count("RolloutStarted") == 1 and reasons.count("RolloutComplete") == 1
        assert len(versions) == 1 and None not in versions
    finally:
        controller.stop()
        fleet.stop()


def test_sigkill_at_twelve_points_of_a_rollout_resumes_without_reinstalling(tmp_path, fresh_mosquitto):
    points = [("events", 3), ("installs", 1), ("events", 6), ("installs", 2), ("events", 9), ("installs", 4),
              ("events", 13), ("installs", 5), ("events", 17), ("installs", 7), ("events", 21), ("installs", 9)]
    run_kills(tmp_path, fresh_mosquitto.url, 12, points)
