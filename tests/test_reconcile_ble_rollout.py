"""A commit rolls a model out to microcontrollers on Bluetooth LE: a real git repository, the real
pipeline on a tiny model, a real Mosquitto, the reconciler, and two virtual Nano 33 BLE boards behind
the gateway on a virtual air (GATT, docs/ble.md). A second commit's model reaches them the same way."""
from __future__ import annotations

import threading

import git

from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
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

SPECS = {"dataset.yaml": SINE_DATASET, "model.yaml": SINE_MODEL,
         "fleet.yaml": fleet_yaml("wearables", "sine", "{boards: [nano33ble]}",
                                  "{canary: 1, batchSize: 1, deviceTimeoutSeconds: 60}")}


def test_a_commit_reaches_ble_boards_through_the_gateway(tmp_path):
    broker = start_mosquitto(tmp_path / "mosquitto")  # its own: no other test's retained boards join
    origin = git.Repo.init(tmp_path / "origin", initial_branch="main")
    first = commit(origin, SPECS, "sine on BLE wearables")
    store = StateStore(tmp_path / "state" / "origami-state.db")
    builder = PipelineBuilder(tmp_path / "state" / "artifacts")
    signer = Signer.load_or_create(tmp_path / "state")
    fleet = VirtualFleet(broker.url, tmp_path / "devices", signer.public_key, {"nano33ble": 2}, prefix="ble",
                         ble=("nano33ble",)).start()
    hub = DeviceHub(broker.url, builder.store, client_id="ble-controller").start()
    loop = Reconciler(store, GitSource(origin.working_dir, tmp_path / "state" / "source", interval=0.5), builder,
                      HubLink(hub), signer)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True)
    thread.start()

    def ready_on(sha: str) -> bool:
        obj = store.object("Fleet", "wearables")
        return bool(obj and obj.observed_commit == sha and obj.is_true("Ready"))

    def context() -> str:
        return "last events: " + "; ".join(f"{e.kind}/{e.name} {e.reason}: {e.message}" for e in store.events()[-8:])

    try:
        wait_until(lambda: ready_on(first), "Fleet/wearables Ready on the first commit", 240, every=0.2,
                   context=context)
        release = store.object("Fleet", "wearables").fleet
        digest = release.artifact("nano33ble")["digest"]
        assert fleet.running() == {d: digest for d in fleet.device_ids}  # what each board itself runs
        assert all(hub.hellos()[d].capabilities.transports == ["ble"] for d in fleet.device_ids)

        second = commit(origin, {"model.yaml": SINE_MODEL.replace("epochs: 2", "epochs: 3")}, "train longer")
        wait_until(lambda: ready_on(second), "Fleet/wearables Ready on the second commit", 240, every=0.2,
                   context=context)
        new = store.object("Fleet", "wearables").fleet.artifact("nano33ble")["digest"]
        assert new != digest and fleet.running() == {d: new for d in fleet.device_ids}
        assert {d: len(v) for d, v in fleet.installs().items()} == {d: 2 for d in fleet.device_ids}
    finally:
        stop.set()
        thread.join(timeout=30)
        hub.stop()
        fleet.stop()
        stop_mosquitto(broker)
