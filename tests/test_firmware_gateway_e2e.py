"""Issue 13 end to end: a commit in a real git spec repository makes the controller build the sine
model and roll it out through the gateway, over the framed serial protocol, to an emulated Nano 33
running the device core's C firmware on QEMU. The board verifies signature and digest itself,
installs into the inactive slot, reboots on trial, confirms and reports the new digest; the fleet
converges. Then the emulated board's flasher (a QEMU restart on a new image) keeps the model.

Cost: one QEMU and the session's device-core image (the TFLM cold build is shared with the other
firmware tests through `ota_image`).
"""
from __future__ import annotations

import threading
from pathlib import Path

import git
import pytest
from cryptography.hazmat.primitives import serialization

from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import HubLink
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.git import GitSource
from controller.state import StateStore
from device.gateway import Gateway
from device.gateway.emulated import QemuBoard
from device.gateway.emulated import flash_emulated
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.firmware_rig import NANO33_MACHINE
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import SINE_MODEL
from tests.reconcile_specs import commit
from tests.reconcile_specs import fleet_yaml
from tests.waiting import wait_until
from wire.manifests import PRIVATE_KEY_FILE

TIMEOUT = 240.0
DEVICE = "nano33-qemu-e2e"


def provision_controller_key(state: Path, key) -> None:
    """The controller signs with the key the emulated board's image has compiled in."""
    keys = state / "keys"
    keys.mkdir(parents=True)
    (keys / PRIVATE_KEY_FILE).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture
def world(fresh_mosquitto, ota_image, ota_key, tmp_path):
    origin = git.Repo.init(tmp_path / "origin", initial_branch="main")
    sha = commit(origin, {"dataset.yaml": SINE_DATASET, "model.yaml": SINE_MODEL,
                          "fleets.yaml": fleet_yaml("mcu", "sine", "{boards: [nano33ble]}",
                                                    "{canary: 1, batchSize: 1, maxUnavailable: 1, "
                                                    "failureThreshold: 1, deviceTimeoutSeconds: 120}")},
                 "sine on an emulated Nano 33")
    state = tmp_path / "state"
    provision_controller_key(state, ota_key)
    signer = Signer.load_or_create(state)
    board = QemuBoard(NANO33_MACHINE, ota_image.elf, tmp_path / "board", DEVICE)
    board.start()
    gateway = Gateway("gw-qemu", fresh_mosquitto.url, BUILTIN_PROFILES, spool=tmp_path / "spool",
                      public_key=signer.public_key)
    gateway.attach(board.port)
    store = StateStore(state / "origami-state.db")
    builder = PipelineBuilder(state / "artifacts")
    hub = DeviceHub(fresh_mosquitto.url, builder.store, client_id="qemu-e2e-controller").start()
    loop = Reconciler(store, GitSource(origin.working_dir, state / "source", interval=0.5), builder,
                      HubLink(hub), signer)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True)
    thread.start()
    yield sha, store, gateway, board
    stop.set()
    thread.join(timeout=30)
    hub.stop()
    gateway.close()
    board.stop()


def test_commit_rolls_a_model_out_to_the_emulated_nano33_through_the_gateway(world):
    sha, store, gateway, board = world

    def ready() -> bool:
        obj = store.object("Fleet", "mcu")
        return bool(obj and obj.observed_commit == sha and obj.is_true("Ready"))

    wait_until(ready, "Fleet/mcu Ready on the emulated Nano 33", TIMEOUT, every=0.5, context=lambda: "; ".join(
        f"{e.kind}/{e.name} {e.reason}: {e.message}" for e in store.events()[-8:]))
    fleet = store.object("Fleet", "mcu").fleet
    release = fleet.releases[fleet.version]["nano33ble"]
    device = store.device(DEVICE)
    assert device.reported_version == fleet.version
    _, on_board = gateway.boards[DEVICE].link.query()  # what the board's own C code reports
    assert on_board["modelDigest"] == release["digest"] and on_board["health"] == "ok"
    assert on_board["lastUpdate"]["outcome"] == "installed" and on_board["activeSlot"] == "a"

    flash_emulated(board, board.elf, gateway)  # a firmware flash: QEMU restarts, the slots stay
    assert gateway.boards[DEVICE].state["modelDigest"] == release["digest"]
