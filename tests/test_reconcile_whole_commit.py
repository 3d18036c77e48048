"""Desired state is a function of the whole commit: a CSV and an entry-point module committed beside
the specs are part of the revision (on the very first commit, through `--git`), and committing a
changed data file or module retrains and rolls the new model out, while a commit that changes
nothing the specs read plans nothing and does nothing. Real git, real TensorFlow, a real Mosquitto
and a virtual Linux board running the device agent.
"""
from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from pathlib import Path

import git
import numpy as np
import pytest

from controller.cli.main import main
from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.reconciler.build_queue import BuildQueue
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import HubLink
from controller.reconciler.wiring import PipelineBuilder
from controller.reconciler.wiring import artifact_dir
from controller.sources.git import GitSource
from controller.state import StateStore
from device.virtual.fleet import VirtualFleet
from tests.conftest import start_mosquitto
from tests.conftest import stop_mosquitto
from tests.outsider import Outsider
from tests.reconcile_specs import classification_dataset
from tests.reconcile_specs import commit
from tests.reconcile_specs import fleet_yaml
from tests.reconcile_specs import model_yaml
from tests.reconcile_specs import repo_code_flags
from tests.waiting import wait_until

SPECS = {
    "dataset.yaml": classification_dataset(
        "points", "{type: files, format: csv, path: data/points.csv, target: label}",
        "{train: 0.7, validation: 0.1, test: 0.2, seed: 3}",
        extra="  preprocessing: {normalize: {method: standard}}\n"),
    "model.yaml": model_yaml("points", "points", '{entryPoint: "net:build"}', "{epochs: 4, batchSize: 16, seed: 1}"),
    "fleet.yaml": fleet_yaml("sorters", "points", "{boards: [rpi4]}",
                             "{canary: 1, batchSize: 1, deviceTimeoutSeconds: 60}"),
    "net.py": """import tf_keras as keras

UNITS = 8


def build(input_shape, outputs, task):
    inputs = keras.Input(shape=input_shape)
    hidden = keras.layers.Dense(UNITS, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(hidden))
""",
}


def points_csv(rows: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines = ["x,y,label"]
    for _ in range(rows):
        label = int(rng.integers(3))
        x, y = rng.normal(label * 2.0, 0.5), rng.normal(-label, 0.5)
        lines.append(f"{x:.4f},{y:.4f},{'abc'[label]}")
    return "\n".join(lines) + "\n"


class World:
    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp, self.url = tmp, url
        self.origin = git.Repo.init(tmp / "origin", initial_branch="main")
        self.first = commit(self.origin, {**SPECS, "data/points.csv": points_csv(150, 1)}, "points classifier")
        self.state = tmp / "state"
        self.store = StateStore(self.state / "origami-state.db")
        self.builder = PipelineBuilder(artifact_dir(self.state), allow_repo_code=True)
        self.signer = Signer.load_or_create(self.state)
        self.fleet = VirtualFleet(url, tmp / "devices", self.signer.public_key, {"rpi4": 2}, prefix="whole").start()
        self.hub = DeviceHub(url, self.builder.store, client_id="whole-controller").start()
        self.builds = BuildQueue(workers=1)
        self.loop = Reconciler(self.store, GitSource(self.origin.working_dir, self.state / "source", interval=0.3),
                               self.builder, HubLink(self.hub), self.signer, builds=self.builds)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop,), kwargs={"interval": 0.3},
                                       daemon=True)
        self.thread.start()

    def converged_on(self, sha: str, timeout: float = 180.0) -> str:
        """Wait until the fleet is Ready at `sha` and every device proves it runs the release; its version."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fleet = self.store.object("Fleet", "sorters")
            if fleet and fleet.observed_commit == sha and fleet.is_true("Ready"):
                version = fleet.fleet.version
                digest = fleet.fleet.releases[version]["rpi4"]["digest"]
                if all(d.reported.get("modelDigest") == digest for d in self.store.devices()):
                    return version
            time.sleep(0.2)
        raise AssertionError("not converged; last events: " + "; ".join(
            f"{e.kind}/{e.name} {e.reason}: {e.message}" for e in self.store.events()[-8:]))

    def plan(self) -> dict:
        """`origami plan` on the origin's work tree against this controller's state dir (what CI runs)."""
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(["plan", self.origin.working_dir, "--state-dir", str(self.state), "-o", "json"]) == 0
        return json.loads(buffer.getvalue())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.builds.stop()
        self.hub.stop()
        self.fleet.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whole-commit")
    broker = start_mosquitto(tmp / "mosquitto")
    w = World(tmp, broker.url)
    yield w
    w.close()
    stop_mosquitto(broker)


def _work(plan: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for action in plan["actions"]:
        if action["reason"] != "cached":
            out.setdefault(action["kind"], []).append(action["target"])
    return out


def test_the_first_commit_with_a_csv_and_a_module_converges_through_git(world):
    version = world.converged_on(world.first)
    model = world.store.object("Model", "points")
    assert model.model.built and model.model.variants["int8"].passed is not None
    revision = world.state / "source" / "revisions" / world.first
    assert (revision / "data" / "points.csv").is_file() and (revision / "net.py").is_file()
    assert version.startswith("points-")


def test_origami_events_shows_what_the_devices_said_themselves(world):
    world.converged_on(world.first)
    device = world.fleet.device_ids[0]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["events", "--for", f"Device/{device}", "--limit", "0", "--state-dir", str(world.state),
                     "-o", "json"]) == 0
    reasons = [e["reason"] for e in json.loads(buffer.getvalue())]
    assert "Installed" in reasons                       # the device's own event, from its events topic


def test_a_changed_csv_is_planned_as_a_new_snapshot_and_rolled_out(world):
    before = world.converged_on(world.first)
    Path(world.origin.working_dir, "data", "points.csv").write_text(points_csv(180, 2))
    assert set(_work(world.plan())) >= {"snapshot", "train", "rollout"}  # previewed before the commit lands
    sha = commit(world.origin, {"data/points.csv": points_csv(180, 2)}, "more points")
    after = world.converged_on(sha)
    assert after != before


def test_a_changed_module_retrains_without_a_new_snapshot(world):
    before = world.store.object("Fleet", "sorters").fleet.version
    module = SPECS["net.py"].replace("UNITS = 8", "UNITS = 12")
    Path(world.origin.working_dir, "net.py").write_text(module)
    work = _work(world.plan())
    assert "train" in work and "snapshot" not in work and "rollout" in work
    sha = commit(world.origin, {"net.py": module}, "wider hidden layer")
    assert world.converged_on(sha) != before


def test_a_commit_that_changes_nothing_the_specs_read_plans_and_does_nothing(world):
    version = world.store.object("Fleet", "sorters").fleet.version
    installs = len(world.store.installs())
    executions = dict(world.builder.cache.executions)
    sha = commit(world.origin, {"README.md": "notes for humans\n"}, "docs only")
    assert _work(world.plan()) == {}
    assert world.converged_on(sha) == version
    time.sleep(1.0)  # a few more passes
    assert len(world.store.installs()) == installs
    assert dict(world.builder.cache.executions) == executions


def test_plan_after_build_on_the_same_state_dir_lists_nothing_to_train(tmp_path, capsys):
    origin = git.Repo.init(tmp_path / "specs", initial_branch="main")
    commit(origin, {**SPECS, "data/points.csv": points_csv(120, 5)}, "points")
    state = tmp_path / "state"
    assert main(["build", origin.working_dir, "--state-dir", str(state), "-q", "-o", "json",
                 *repo_code_flags()]) in (0, 3)
    capsys.readouterr()
    assert main(["plan", origin.working_dir, "--state-dir", str(state), "-o", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert (summary["snapshot"], summary["train"], summary["squeeze"], summary["gates"]) == (0, 0, 0, 0)
    assert summary["rollout"] == 1  # nothing was rolled out yet: that is all that is left


RPI4_2GB = """apiVersion: origami/v1alpha1
kind: DeviceProfile
metadata: {name: rpi4}
spec:
  board: Raspberry Pi 4 Model B (2 GB)
  family: linux
  cpu: Cortex-A72 (BCM2711)
  cores: 4
  clockMHz: 1500
  ram: 2GiB
  flash: 32GiB
  runtime: litert
  macsPerSecond: 6000000000
  transports: [wifi, ethernet]
"""


def test_a_changed_device_profile_rebundles_without_retraining(world):
    before = world.converged_on(world.origin.head.commit.hexsha)
    Path(world.origin.working_dir, "profiles.yaml").write_text(RPI4_2GB)
    work = _work(world.plan())
    assert work.get("bundle") == ["Fleet/sorters@rpi4"] and "train" not in work and "snapshot" not in work
    sha = commit(world.origin, {"profiles.yaml": RPI4_2GB}, "our Pis have 2 GB")
    assert world.converged_on(sha) != before


def test_a_member_offline_across_a_commit_keeps_the_fleet_not_ready_until_it_returns(world):
    from device.virtual.linux_board import VirtualLinuxBoard

    world.converged_on(world.origin.head.commit.hexsha)
    away, present = world.fleet.device_ids
    world.fleet.linux[away].stop()                      # says offline itself (a clean stop)
    module = SPECS["net.py"].replace("UNITS = 8", "UNITS = 10")
    sha = commit(world.origin, {"net.py": module}, "ten hidden units")

    def present_runs_the_new_release():
        fleet = world.store.object("Fleet", "sorters")
        if fleet is None or fleet.observed_commit != sha:
            return None
        digest = (fleet.fleet.artifact("rpi4") or {}).get("digest")
        return fleet if digest and world.store.device(present).reported.get("modelDigest") == digest else None

    fleet = _wait(present_runs_the_new_release)
    time.sleep(1.0)                                     # a few more passes: still not Ready
    fleet = world.store.object("Fleet", "sorters")
    assert not fleet.is_true("Ready")
    assert fleet.fleet.states[away] != "updated" and fleet.fleet.reasons[away].startswith("offline since")
    rows = {r["id"]: r for r in _get_devices(world)}
    assert rows[away]["sync"] != "updated" and rows[away]["reason"].startswith("offline since")
    assert rows[present]["sync"] == "updated" and rows[present]["online"]
    world.fleet.linux[away] = VirtualLinuxBoard(away, world.fleet.url, world.tmp / "devices" / away,
                                                world.signer.public_key, profile="rpi4").start()
    world.converged_on(sha)


def test_a_device_reporting_a_digest_it_was_not_sent_is_never_updated(world):
    """An outsider device (plain paho, from docs/protocol.md) joins, takes its desired state and claims
    the desired version and generation with another digest."""
    world.converged_on(world.origin.head.commit.hexsha)
    liar = "whole-liar-00"
    device = Outsider(world.url, liar, follow_desired=True)
    try:
        device.hello(capabilities={"family": "linux", "board": "rpi4", "runtimes": ["litert"], "freeBytes": 10**9})
        device.publish("presence", {"deviceId": liar, "online": True})
        _wait(lambda: device.desired)
        want = device.desired[-1]
        manifest = want["artifact"]["manifest"]
        device.publish("state", {"deviceId": liar, "firmwareVersion": "0.1", "modelVersion": manifest["version"],
                                 "modelDigest": "0" * 64, "health": "ok", "observedGeneration": want["generation"]})

        def judged():
            fleet = world.store.object("Fleet", "sorters")
            reason = fleet.fleet.reasons.get(liar, "") if fleet else ""
            return fleet if "reports digest 00000000" in reason else None

        fleet = _wait(judged)
        assert fleet.fleet.states[liar] != "updated" and not fleet.is_true("Ready")
        row = next(r for r in _get_devices(world) if r["id"] == liar)
        assert row["sync"] != "updated" and "reports digest 00000000" in row["reason"]
    finally:
        device.close()


def _wait(condition, timeout: float = 180.0):
    return wait_until(condition, "the fleet's verdict", timeout, every=0.2)


def _get_devices(world) -> list[dict]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["get", "devices", "--state-dir", str(world.state), "-o", "json"]) == 0
    return json.loads(buffer.getvalue())
