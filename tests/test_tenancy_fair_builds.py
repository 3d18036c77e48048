"""Fairness between tenants: a build storm in one tenant does not delay another's rollout.

Two tenants on one process, each with the parts `origami reconcile --tenants` gives it (its own
build queue of `parallelBuilds` workers, state, artifacts, MQTT namespace), a real Mosquitto and a
virtual device each. Acme's queue is held full by a storm of builds that do not end until the test
releases them; globex's real (small) build and rollout must complete while that storm is still
holding acme's queue: globex waits for its own build only. Then the storm ends and acme converges too.
"""
from __future__ import annotations

import threading

from controller.cli.broker_flags import open_controller_broker
from controller.cli.main import build_parser
from controller.reconciler.build_queue import Job
from controller.tenancy.config import load_tenants
from controller.tenancy.runtime import start_tenant
from device.virtual.linux_board import VirtualLinuxBoard
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import SINE_MODEL
from tests.reconcile_specs import fleet_yaml
from tests.waiting import wait_until
from wire.mqtt import BrokerConnection

STORM = 6
TIMEOUT = 240.0


def _tenants(tmp) -> str:
    lines = ["tenants:"]
    for tenant in ("acme", "globex"):
        specs = tmp / tenant
        specs.mkdir()
        (specs / "dataset.yaml").write_text(SINE_DATASET)
        (specs / "model.yaml").write_text(SINE_MODEL)
        (specs / "fleet.yaml").write_text(fleet_yaml("linux", "sine", "{boards: [rpi4]}",
                                                     "{canary: 1, batchSize: 1, maxUnavailable: 1}"))
        lines += [f"  - name: {tenant}", f"    source: {{path: {specs}}}", "    limits: {parallelBuilds: 1}"]
    (tmp / "tenants.yaml").write_text("\n".join(lines) + "\n")
    return str(tmp / "tenants.yaml")


def _ready(part) -> bool:
    fleet = part.store.object("Fleet", "linux")
    return bool(fleet and fleet.is_true("Ready"))


def test_a_build_storm_in_one_tenant_does_not_delay_anothers_rollout(mosquitto, tmp_path):
    tenants_file = _tenants(tmp_path)
    args = build_parser().parse_args(["reconcile", "--tenants", tenants_file, "--broker", mosquitto.url,
                                      "--state-dir", str(tmp_path / "state"), "--interval", "0.5"])
    broker = open_controller_broker(args, tmp_path / "state")
    parts = {t.name: start_tenant(args, tmp_path / "state", t, broker, signer_passphrase=None, progress=None)
             for t in load_tenants(tenants_file)}
    release = threading.Event()
    storm = [parts["acme"].builds.submit(Job(f"storm-{i}", "Model/storm", lambda: release.wait(TIMEOUT)))
             for i in range(STORM)]
    devices = [VirtualLinuxBoard(f"{t}-dev", BrokerConnection.parse(mosquitto.url).in_tenant(t),
                                 tmp_path / "devices" / t, part.reconciler.signer.public_key, profile="rpi4").start()
               for t, part in parts.items()]
    stop = threading.Event()
    loops = [threading.Thread(target=part.reconciler.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True)
             for part in parts.values()]
    try:
        for loop in loops:
            loop.start()
        wait_until(lambda: _ready(parts["globex"]), "globex's fleet Ready", TIMEOUT, every=0.2,
                   context=lambda: "; ".join(e.message for e in parts["globex"].store.events()[-8:]))
        # globex built and rolled out while acme's storm still holds acme's only worker
        assert not release.is_set() and all(job.status in ("queued", "running") for job in storm)
        assert not _ready(parts["acme"])
        assert parts["globex"].store.device("globex-dev").reported_version
        assert parts["acme"].store.device("globex-dev") is None
        release.set()
        wait_until(lambda: _ready(parts["acme"]), "acme's fleet Ready after the storm", TIMEOUT, every=0.2)
    finally:
        release.set()
        stop.set()
        for loop in loops:
            loop.join(10)
        for device in devices:
            device.stop()
        for part in parts.values():
            part.stop()
        broker.stop()
