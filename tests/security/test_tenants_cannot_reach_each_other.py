"""Two tenants on one controller (`origami reconcile --tenants FILE`, a real process), a real
Mosquitto with the ACLs `origami broker config --tenants FILE` writes, and virtual devices of each
tenant in their own namespace: both fleets converge, and every way across is refused: a device of
acme reading or writing globex's topics, fetching globex's artifact by its digest, a viewer acting, an
operator acting on the other tenant (HTTP and CLI), events and metrics showing the other's objects."""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import time

import httpx
import pytest

from controller.devices.signing import Signer
from controller.state import StateStore
from controller.tenancy.config import load_tenants
from controller.web.auth import TOKEN_FILE
from controller.web.auth import TokenStore
from device.virtual.linux_board import VirtualLinuxBoard
from specs.v1alpha1 import protocol as p
from tests.conftest import ROOT
from tests.conftest import free_port
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import fleet_yaml
from tests.reconcile_specs import model_yaml
from tests.security.secured_mosquitto import generated_mosquitto
from tests.waiting import wait_until
from wire.mqtt import MqttLink

DEVICES = {"acme-01": "acme", "acme-02": "acme", "glx-01": "globex", "glx-02": "globex"}
UNITS = {"acme": 8, "globex": 4}  # two different models: two different artifacts
FLEET = fleet_yaml("linux", "sine", "{boards: [rpi4]}", "{canary: 1, batchSize: 2, maxUnavailable: 2, "
                   "deviceTimeoutSeconds: 60}")
TIMEOUT = 240.0


def _tenants_file(tmp) -> str:
    lines = ["tenants:"]
    for tenant in UNITS:
        specs = tmp / f"{tenant}-specs"
        specs.mkdir()
        (specs / "dataset.yaml").write_text(SINE_DATASET)
        (specs / "model.yaml").write_text(model_yaml("sine", "sine", f"{{preset: mlp, units: [{UNITS[tenant]}]}}",
                                                     "{epochs: 2, seed: 1}"))
        (specs / "fleet.yaml").write_text(FLEET)
        devices = ", ".join(d for d, t in DEVICES.items() if t == tenant)
        lines += [f"  - name: {tenant}", f"    source: {{path: {specs}}}", f"    devices: [{devices}]",
                  "    limits: {parallelBuilds: 1, devices: 10}"]
    path = tmp / "tenants.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class World:
    def __init__(self, tmp, broker, tenants_file: str) -> None:
        self.tmp, self.broker, self.state = tmp, broker, tmp / "state"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "controller.log", "w")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller.cli.main", "reconcile", "--tenants", tenants_file, "--broker",
             broker.url, "--broker-registry", str(broker.files.config.parent), "--state-dir", str(self.state),
             "--listen", f"127.0.0.1:{self.port}", "--interval", "0.5"], stdout=self.log, stderr=subprocess.STDOUT,
            env=env)
        self.devices: list[VirtualLinuxBoard] = []

    def store(self, tenant: str) -> StateStore:
        return StateStore(self.state / "tenants" / tenant / "origami-state.db", tenant=tenant)

    def wait(self, what: str, condition, timeout: float = TIMEOUT):
        return wait_until(condition, what, timeout, every=0.3,
                          context=lambda: (self.tmp / "controller.log").read_text()[-3000:])

    def start_devices(self) -> None:
        for device, tenant in DEVICES.items():
            keys = self.state / "tenants" / tenant / "keys" / "signing-key.pem"
            self.wait(f"{tenant}'s signing key", keys.exists, 60)
            public = Signer.load_or_create(self.state / "tenants" / tenant).public_key
            self.devices.append(VirtualLinuxBoard(device, self.broker.connection(device).in_tenant(tenant),
                                                  self.tmp / "devices" / device, public, profile="rpi4").start())

    def close(self) -> None:
        for board in self.devices:
            board.stop()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tenants")
    tenants_file = _tenants_file(tmp)
    listed = load_tenants(tenants_file)
    with generated_mosquitto([], tenants=DEVICES, namespaces=tuple(t.name for t in listed)) as broker:
        world = World(tmp, broker, tenants_file)
        try:
            world.start_devices()
            yield world
        finally:
            world.close()


def _ready(world: World, tenant: str) -> bool:
    store = world.store(tenant)
    try:
        fleet = store.object("Fleet", "linux")
        return bool(fleet and fleet.is_true("Ready"))
    finally:
        store.close()


def test_each_tenants_fleet_converges_on_its_own_model(world):
    for tenant in UNITS:
        world.wait(f"{tenant}'s fleet Ready", lambda t=tenant: _ready(world, t))
    for tenant in UNITS:
        store = world.store(tenant)
        installed = {i.device_id for i in store.installs()}
        assert installed == {d for d, t in DEVICES.items() if t == tenant}  # its own devices, only those
        assert {d.device_id for d in store.devices()} == installed
        store.close()
    acme, globex = world.store("acme"), world.store("globex")
    assert {i.artifact for i in acme.installs()}.isdisjoint({i.artifact for i in globex.installs()})


def _link(world: World, account: str, tenant: str) -> MqttLink:
    return MqttLink(f"probe-{account}", world.broker.connection(account).in_tenant(tenant)).start(5)


def test_a_device_of_one_tenant_can_neither_read_nor_write_the_others_topics(world):
    world.wait("globex's fleet Ready", lambda: _ready(world, "globex"))
    # acme-01's own account, pointed at globex's namespace, where glx-01's desired state, hello and
    # state are retained: the broker delivers none of them, nor anything under a wildcard
    spy = MqttLink("spy", world.broker.connection("acme-01").in_tenant("globex"))
    inbox: queue.Queue = queue.Queue()
    for channel in ("desired", "hello", "state", "transfer/chunk"):
        spy.subscribe(f"origami/v1/devices/glx-01/{channel}", lambda t, b: inbox.put(t))
    spy.subscribe("origami/v1/#", lambda t, b: inbox.put(t))
    own = queue.Queue()
    spy.subscribe("origami/v1/keys", lambda t, b: own.put(t))  # globex's key announcement: not acme's either
    spy.start(5)
    try:
        # a hello in globex's namespace, as if acme-01 were a globex device: dropped by the broker
        spy.publish_and_wait("origami/v1/devices/acme-01/hello", p.encode(p.Hello(
            deviceId="acme-01", agent="spy", agentVersion="0", capabilities=p.Capabilities(family="linux"))))
        time.sleep(1.5)  # retained messages arrive at once; and a pass or two of globex's loop
    finally:
        spy.stop()
    assert inbox.empty() and own.empty()
    # the same probe in its own namespace does see its own retained desired state: the probe works
    mine: queue.Queue = queue.Queue()
    honest = MqttLink("honest", world.broker.connection("acme-01").in_tenant("acme"))
    honest.subscribe("origami/v1/devices/acme-01/desired", lambda t, b: mine.put(t))
    honest.start(5)
    try:
        assert mine.get(timeout=5) == "origami/v1/devices/acme-01/desired"
    finally:
        honest.stop()
    globex = world.store("globex")
    assert "acme-01" not in {d.device_id for d in globex.devices()}
    globex.close()


def test_a_device_cannot_fetch_the_other_tenants_artifact_even_with_its_digest(world):
    world.wait("globex's fleet Ready", lambda: _ready(world, "globex"))
    globex = world.store("globex")
    digest = next(i.artifact for i in globex.installs() if i.artifact)
    globex.close()
    replies: queue.Queue = queue.Queue()
    probe = MqttLink("probe", world.broker.connection("acme-01").in_tenant("acme"))
    probe.subscribe("origami/v1/devices/acme-01/transfer/offer", lambda t, b: replies.put(b))
    probe.subscribe("origami/v1/devices/acme-01/transfer/chunk", lambda t, b: replies.put(b"chunk"))
    probe.start(5)
    try:
        probe.publish_and_wait("origami/v1/devices/acme-01/transfer/request",
                               p.encode(p.TransferRequest(digest=digest)))
        answer = json.loads(replies.get(timeout=10))
    finally:
        probe.stop()
    assert answer["kind"] == "refused" and answer["digest"] == digest
    assert replies.empty()  # not one chunk of it


@pytest.fixture(scope="module")
def tokens(world):
    world.wait("the dashboard", lambda: (world.state / TOKEN_FILE).exists(), 60)
    store = TokenStore(world.state / TOKEN_FILE)
    made = {}
    for tenant in UNITS:
        for role in ("viewer", "operator"):
            made[tenant, role] = store.create(f"{tenant[:3]}-{role}", tenant=tenant, role=role)
    return made


def _bearer(token: str, tenant: str | None = None) -> dict:
    return {"Authorization": f"Bearer {token}", **({"X-Origami-Tenant": tenant} if tenant else {})}


def test_a_viewer_cannot_act_and_an_operator_cannot_act_on_the_other_tenant(world, tokens):
    world.wait("acme's fleet Ready", lambda: _ready(world, "acme"))
    pause = world.url + "/api/v1/fleets/linux/rollout/pause"
    viewer = httpx.post(pause, headers=_bearer(tokens["acme", "viewer"]), timeout=10)
    assert viewer.status_code == 403 and "needs the operator role" in viewer.json()["detail"]
    across = httpx.post(pause, headers=_bearer(tokens["acme", "operator"], "globex"), timeout=10)
    assert across.status_code == 403 and "tenant acme" in across.json()["detail"]
    token_file = world.tmp / "acme-operator.token"
    token_file.write_text(tokens["acme", "operator"] + "\n")
    cli = subprocess.run([sys.executable, "-m", "controller.cli.main", "rollout", "pause", "linux", "--server",
                          world.url, "--token-file", str(token_file), "--tenant", "globex"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert cli.returncode != 0 and "403" in cli.stderr
    for tenant in UNITS:
        store = world.store(tenant)
        assert not store.rollout("linux").paused
        assert not [e for e in store.events() if e.reason == "Paused"]
        store.close()


def test_a_tenants_events_and_metrics_never_show_the_others_objects(world, tokens):
    world.wait("both fleets Ready", lambda: _ready(world, "acme") and _ready(world, "globex"))
    headers = _bearer(tokens["acme", "viewer"])
    events = httpx.get(world.url + "/api/v1/events", params={"limit": 10000}, headers=headers, timeout=10).json()
    devices = httpx.get(world.url + "/api/v1/devices", headers=headers, timeout=10).json()
    metrics = httpx.get(world.url + "/metrics", headers=headers, timeout=10).text
    globex = world.store("globex")
    theirs = {d for d, t in DEVICES.items() if t == "globex"} | {i.version for i in globex.installs()}
    globex.close()
    assert {d["id"] for d in devices} == {"acme-01", "acme-02"}
    text = json.dumps(events) + metrics
    assert events and not [name for name in theirs if re.search(re.escape(name), text)]
