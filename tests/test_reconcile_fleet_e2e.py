"""From git commits to a converged fleet, end to end: a real git repository, the real pipeline on a
tiny model, a real Mosquitto, and 22 virtual devices of four board classes (virtual Linux boards
running the device agent; virtual microcontrollers with real TFLM behind a pty and a Gateway).

The tests run in file order on one world: initial convergence, a rollout-only commit, a model
change (canary first), a failing canary (halt and roll back), an invalid commit.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import git
import pytest

from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
from controller.reconciler.rollout import _order
from controller.reconciler.wiring import HubLink
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.git import GitSource
from controller.state import StateStore
from device.virtual.fleet import VirtualFleet
from tests.conftest import start_mosquitto
from tests.conftest import stop_mosquitto
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import SINE_MODEL
from tests.reconcile_specs import commit
from tests.reconcile_specs import fleet_yaml
from tests.waiting import wait_until

BOARDS = {"rpi4": 8, "jetson-nano": 8, "nano33ble": 3, "pico": 3}
TIMEOUT = 120.0

SPECS = {
    "dataset.yaml": SINE_DATASET,
    "model.yaml": SINE_MODEL,
    "fleets.yaml": fleet_yaml("linux", "sine", "{boards: [rpi4, jetson-nano]}",
                              "{canary: 1, batchSize: 50%, maxUnavailable: 50%, failureThreshold: 1, "
                              "deviceTimeoutSeconds: 60}")
    + "---\n" + fleet_yaml("mcu", "sine", "{boards: [nano33ble, pico]}",
                           "{canary: 1, batchSize: 3, maxUnavailable: 3, failureThreshold: 1, "
                           "deviceTimeoutSeconds: 60}"),
}


class World:
    def __init__(self, tmp: Path, url: str) -> None:
        self.origin = git.Repo.init(tmp / "origin", initial_branch="main")
        self.specs = dict(SPECS)
        self.first = commit(self.origin, self.specs, "sine on a mixed fleet")
        self.store = StateStore(tmp / "state" / "origami-state.db")
        self.builder = PipelineBuilder(tmp / "state" / "artifacts")
        self.signer = Signer.load_or_create(tmp / "state")
        self.fleet = VirtualFleet(url, tmp / "devices", self.signer.public_key, BOARDS, prefix="e2e").start()
        self.hub = DeviceHub(url, self.builder.store, client_id="e2e-controller").start()
        self.source = GitSource(self.origin.working_dir, tmp / "state" / "source", interval=0.5)
        self.loop = Reconciler(self.store, self.source, self.builder, HubLink(self.hub), self.signer)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop,), kwargs={"interval": 0.5},
                                       daemon=True)
        self.thread.start()

    def change(self, name: str, old: str, new: str, message: str) -> str:
        assert old in self.specs[name]
        self.specs[name] = self.specs[name].replace(old, new)
        return commit(self.origin, {name: self.specs[name]}, message)

    def wait(self, what: str, condition, timeout: float = TIMEOUT):
        return wait_until(condition, what, timeout, every=0.2, context=lambda: "last events: " + "; ".join(
            f"{e.kind}/{e.name} {e.reason}: {e.message}" for e in self.store.events()[-10:]))

    def fleet_status(self, name: str):
        return self.store.object("Fleet", name)

    def ready_on(self, commit_sha: str, name: str) -> bool:
        obj = self.fleet_status(name)
        return bool(obj and obj.observed_commit == commit_sha and obj.is_true("Ready"))

    def versions(self) -> dict[str, str | None]:
        return {d.device_id: d.reported_version for d in self.store.devices() if d.device_id in self.fleet.device_ids}

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.hub.stop()
        self.fleet.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet-e2e")
    broker = start_mosquitto(tmp / "mosquitto")  # its own: no other test's retained boards join these fleets
    w = World(tmp, broker.url)
    yield w
    w.close()
    stop_mosquitto(broker)


def members(world: World, fleet: str) -> list[str]:
    boards = {"linux": ("rpi4", "jetson-nano"), "mcu": ("nano33ble", "pico")}[fleet]
    return [d for d in world.fleet.device_ids if world.fleet.board_of(d) in boards]


def test_initial_convergence_every_member_reports_the_desired_version(world):
    for fleet in ("linux", "mcu"):
        world.wait(f"Fleet/{fleet} Ready", lambda fleet=fleet: world.ready_on(world.first, fleet), timeout=240)
    running = world.fleet.running()
    for fleet in ("linux", "mcu"):
        obj = world.fleet_status(fleet)
        version = obj.fleet.version
        assert obj.fleet.members == len(members(world, fleet))
        release = obj.fleet.releases[version]
        for device_id in members(world, fleet):
            board = world.fleet.board_of(device_id)
            assert world.store.device(device_id).reported_version == version
            assert running[device_id] == release[board]["digest"]  # what the device itself runs
    mcu = world.fleet_status("mcu").fleet
    for board in ("nano33ble", "pico"):
        art = mcu.artifact(board)
        assert art["target"]["runtime"] == "tflm" and art["target"]["board"] == board
        assert art["firmware"] and world.builder.store.exists(art["firmware"])  # the rendered project
        assert "fits" in art["note"]  # the devices' selection says why
    linux = world.fleet_status("linux").fleet
    assert linux.artifact("rpi4")["target"]["runtime"] == "litert"
    installs = world.fleet.installs()
    assert all(len(installs.get(d, [])) == 1 for d in world.fleet.device_ids), installs


def test_a_rollout_only_commit_retrains_nothing_and_installs_nothing(world):
    executions = dict(world.builder.cache.executions)
    installs = world.fleet.installs()
    version = world.fleet_status("linux").fleet.version
    sha = world.change("fleets.yaml", "batchSize: 50%", "batchSize: 25%", "smaller linux batches")
    world.wait("the rollout-only commit to be observed", lambda: world.ready_on(sha, "linux"))
    assert dict(world.builder.cache.executions) == executions
    assert world.fleet_status("linux").fleet.version == version
    time.sleep(1.0)
    assert world.fleet.installs() == installs


def test_a_model_change_rolls_out_canary_first(world):
    before = {f: world.fleet_status(f).fleet.version for f in ("linux", "mcu")}
    trained = world.builder.cache.executions["train"]
    sha = world.change("model.yaml", "epochs: 2", "epochs: 3", "train longer")
    for fleet in ("linux", "mcu"):
        world.wait(f"Fleet/{fleet} on the new model", lambda fleet=fleet: world.ready_on(sha, fleet)
                   and world.fleet_status(fleet).fleet.version != before[fleet], timeout=180)
    assert world.builder.cache.executions["train"] == trained + 1
    for fleet in ("linux", "mcu"):
        version = world.fleet_status(fleet).fleet.version
        sent = [i for i in world.store.installs() if i.fleet == fleet and i.version == version]
        sent.sort(key=lambda i: (i.recorded_at, int(i.install_id.rsplit(':', 1)[1])))
        assert sent[0].reason == "canary" and [i.reason for i in sent].count("canary") == 1
        assert all(i.reason == "batch" for i in sent[1:]) and len(sent) == len(members(world, fleet))
        # The canary installed (device event) before any batch member was even assigned.
        canary = sent[0].device_id
        assert world.store.device(canary).reported_version == version
        trail = [e for e in world.store.events(kind="Fleet", name=fleet) if e.commit == sha]
        reasons = [e.reason for e in trail]
        assert reasons.index("StepComplete") < reasons.index("RolloutComplete")
        assert "canary" in trail[reasons.index("StepComplete")].message
        assert all(v == version for d, v in world.versions().items() if d in members(world, fleet))


def test_a_failing_canary_halts_the_rollout_and_rolls_back(world):
    good = world.fleet_status("linux").fleet.version
    linux = members(world, "linux")
    canary = min(linux, key=lambda d: _order("linux", d))  # the rollout's own order picks the canary
    world.fleet.fail_health(canary)
    installs = world.fleet.installs()
    try:
        sha = world.change("model.yaml", "epochs: 3", "epochs: 4", "train even longer")
        world.wait("Fleet/linux halted", lambda: (r := world.store.rollout("linux")) is not None
                   and r.phase == "halted" and world.fleet_status("linux").observed_commit == sha, timeout=180)
        world.wait("every linux device back on the last good version, the fleet Stalled (never Ready too)",
                   lambda: all(world.store.device(d).reported_version == good for d in linux)
                   and (f := world.fleet_status("linux")).is_true("Stalled") and not f.is_true("Ready"))
        world.wait("Fleet/mcu (healthy) on the new model", lambda: world.ready_on(sha, "mcu"), timeout=180)
    finally:
        world.fleet.fail_health(canary, False)
    record = world.store.rollout("linux")
    assert record.target == good and record.failures == [canary]
    bad = record.failed_version
    assert bad and bad != good
    assert [i.device_id for i in world.store.installs() if i.fleet == "linux" and i.version == bad] == [canary]
    assert all(world.store.device(d).reported_version == good for d in linux)
    after = world.fleet.installs()
    assert all(after.get(d, []) == installs.get(d, []) for d in linux)  # the canary rolled back, nobody else moved
    reasons = [e.reason for e in world.store.events(kind="Fleet", name="linux") if e.commit == sha]
    assert "RolloutHalted" in reasons
    assert world.fleet_status("linux").is_true("Stalled")  # halted: the operator must look


def test_an_invalid_commit_changes_nothing_on_any_device(world):
    running = world.fleet.running()
    installs = world.fleet.installs()
    desired = {d: r.install_id for d, r in world.store.desired().items()}
    bad = world.change("model.yaml", "epochs: 4", "epochs: -1", "oops")
    world.wait("the invalid commit to be recorded", lambda: world.store.source_state()[0] == bad)
    assert world.store.object("Source", "specs").is_true("Stalled")
    time.sleep(2.0)  # a few passes on the invalid head
    assert world.fleet.running() == running
    assert world.fleet.installs() == installs
    assert {d: r.install_id for d, r in world.store.desired().items()} == desired
