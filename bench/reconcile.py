"""Reconcile benchmark: (1) a no-op pass over 50 models and 1,000 converged devices (target <= 200 ms,
zero actions); (2) commit-to-convergence for 200 and 1,000 virtual devices on a local Mosquitto, and the
controller's CPU seconds per device.

The no-op state is recorded through the state store as the loop leaves it after converging (models
built under their current keys, each fleet's release recorded, every device reporting its desired
version); the builder is a guard that fails the bench if the pass tries to build anything.

Convergence: the real loop (git source, PipelineBuilder, DeviceHub on Mosquitto) against lightweight
virtual devices: one separate process hosts them all on one MQTT connection (`device.virtual.swarm`)
and speaks protocol v1 with the devices' own code (hello, the desired state through the agent's
`DesiredGuard`, chunked download with `ChunkReceiver`, `verify_artifact`, reported state). The model
is built before the clock starts (training time is the pipeline bench's); the clock runs from the
commit that adds the fleet to the pass that finds every member reporting the desired version.
CPU is the controller process's only.

    .venv/bin/python bench/reconcile.py [--json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.planning.plan import RecordedState
from controller.reconciler.loop import Reconciler
from controller.reconciler.ports import Artifact
from controller.reconciler.ports import ModelOutcome
from controller.sources.local import LocalSource
from controller.state import InstallRecord
from controller.state import ObjectStatus
from controller.state import StateStore
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SignedManifest
from specs.v1alpha1.protocol import Target
from tests.reconcile_specs import SINE_DATASET  # the tiny specs the tests commit too
from tests.reconcile_specs import SINE_MODEL  # the tiny specs the tests commit too

MODELS, DEVICES = 50, 1000
BOARDS = ["rpi4", "jetson-nano", "esp32s3"]


def write_specs(root: Path) -> None:
    docs = ["""apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: sine}
spec:
  task: regression
  sources: [{type: generated, generator: sine, samples: 300, seed: 1}]
"""]
    for i in range(MODELS):
        docs.append(f"""apiVersion: origami/v1alpha1
kind: Model
metadata: {{name: m{i}}}
spec:
  dataset: sine
  architecture: {{preset: mlp, units: [{8 + i}]}}
  training: {{epochs: 2}}
---
apiVersion: origami/v1alpha1
kind: Fleet
metadata: {{name: f{i}}}
spec:
  model: m{i}
  selector: {{matchLabels: {{group: g{i}}}}}
""")
    root.mkdir(parents=True)
    (root / "specs.yaml").write_text("---\n".join(docs))


ARTIFACT = Artifact("0" * 64, 1000, Target(runtime="litert"), "int8")


class AlreadyBuilt:
    """Every stage is in the store (a converged controller): reads succeed, builds must not happen."""

    def is_built(self, key):
        return True

    def model(self, repo, model, keys):
        return ModelOutcome(variants={"int8": {"passed": True, "quantization": "int8", "size": 1000,
                                               "digest": ARTIFACT.digest, "tflm": True}}, dataset_digest="0" * 64)

    def bundle(self, key):
        return ARTIFACT

    def build_model(self, *a, **k):
        raise AssertionError("a no-op pass tried to build")

    def build_bundle(self, *a, **k):
        raise AssertionError("a no-op pass tried to bundle")


class Quiet:
    def __init__(self):
        self.sent = 0

    def poll(self):
        return []

    def set_desired(self, device_id, desired):
        self.sent += 1

    def settle(self):
        pass

    def on_activity(self, callback):
        pass


class Unsigned:
    """A signer that must not be used: a no-op pass signs nothing."""

    key_id = "0" * 16

    def sign(self, manifest):
        raise AssertionError("a no-op pass tried to sign")

    def sign_desired(self, desired):
        raise AssertionError("a no-op pass tried to sign")


def _signed(model: str, version: str) -> SignedManifest:
    """The manifest a converged device was sent (the signature is never checked in the no-op bench)."""
    manifest = Manifest(name=model, version=version, digest=ARTIFACT.digest, size=ARTIFACT.size,
                        target=ARTIFACT.target)
    return SignedManifest(manifest=manifest, signature="A" * 88, keyId=Unsigned.key_id)


def seed_converged(store: StateStore, loop: Reconciler, devices_total: int = DEVICES) -> None:
    """Record the converged state: the loop's own first pass records objects; then models, releases
    and devices are recorded as they are after convergence."""
    from controller.planning.plan import plan_repository
    from controller.state import RolloutRecord

    revision, repo = loop.revisions.current(time.time())
    devices = {f"dev-{i:05d}": (f"f{i % MODELS}", BOARDS[i % len(BOARDS)]) for i in range(devices_total)}
    with store.transaction():
        for dev, (fleet, board) in devices.items():
            store.observe_device(dev, board=board, labels={"group": f"g{fleet[1:]}"}, hello={})
    graph = plan_repository(repo, RecordedState.from_store(store)).graph
    with store.transaction():
        for dev, (fleet, _board) in devices.items():  # recorded as the loop leaves them (keyId: Unsigned's)
            version = graph.fleets[fleet].version
            store.observe_device(dev, reported={"modelVersion": version, "modelDigest": ARTIFACT.digest,
                                                "observedGeneration": 1, "health": "ok"},
                                 reported_version=version, healthy=True)
            store.record_install(InstallRecord(f"{dev}:1", dev, fleet, version, ARTIFACT.digest, "batch", 0.0),
                                 DesiredState(deviceId=dev, board=_board, fleet=fleet, generation=1, sequence=1,
                                              keyId=Unsigned.key_id, artifact=_signed(fleet, version)
                                              ).model_dump(mode="json"))
            store.mark_reached(dev, 1.0)
        for name, keys in graph.fleets.items():
            store.put_object(ObjectStatus("Fleet", name, revision.id, None,
                                          detail={"releases": {keys.version: {b: ARTIFACT.to_dict()
                                                                              for b in BOARDS}}}))
            store.put_rollout(RolloutRecord(name, target=keys.version, last_good=keys.version, phase="complete"))


def noop(tmp: Path) -> tuple[float, int, int]:
    write_specs(tmp / "specs")
    store = StateStore(tmp / "origami-state.db")
    link = Quiet()
    loop = Reconciler(store, LocalSource(tmp / "specs"), AlreadyBuilt(), link, Unsigned())
    seed_converged(store, loop)
    loop.reconcile_once()  # settles conditions once (the first pass after seeding writes status)
    link.sent = 0  # the first pass after a (re)start republishes recorded desired states; not an action
    times, actions = [], 0
    for _ in range(5):
        start = time.perf_counter()
        result = loop.reconcile_once()
        times.append(time.perf_counter() - start)
        actions += result.actions
    ready = sum(store.object("Fleet", f"f{i}").is_true("Ready") for i in range(MODELS))
    return sorted(times)[len(times) // 2] * 1000, actions + link.sent, ready


SIM_BOARDS = ("rpi4", "jetson-nano")


def simulate_devices(url: str, count: int, public_pem: bytes, root: str, ready, stop) -> None:
    """Run in a child process: `count` devices on one MQTT connection (`device.virtual.swarm`), until
    `stop` is set."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from device.virtual.swarm import Swarm

    swarm = Swarm(url, load_pem_public_key(public_pem), Path(root), count, prefix=f"bench{count}",
                  boards=SIM_BOARDS, labels={"bench": str(count)}, client_id=f"bench-fleet-{count}").start(120)
    ready.set()
    stop.wait()
    swarm.stop()


CONVERGE_MODEL = SINE_DATASET + "---\n" + SINE_MODEL
CONVERGE_FLEET = """apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: bench}
spec:
  model: sine
  selector: {boards: [rpi4, jetson-nano], matchLabels: {bench: "COUNT"}}
  rollout: {canary: 1%, batchSize: 25%, maxUnavailable: 25%, failureThreshold: 5%}
"""


def converge(tmp: Path, url: str, count: int, artifacts: Path) -> tuple[float, float]:
    """(seconds from commit to convergence, controller CPU seconds over the same span)."""
    import multiprocessing

    import git

    from controller.devices.hub import DeviceHub
    from controller.devices.signing import Signer
    from controller.loading import load_repository
    from controller.planning.keys import model_keys
    from controller.reconciler.wiring import HubLink
    from controller.reconciler.wiring import PipelineBuilder
    from controller.sources.git import GitSource
    from wire.manifests import public_pem

    origin = git.Repo.init(tmp / "origin", initial_branch="main")
    (tmp / "origin" / "model.yaml").write_text(CONVERGE_MODEL)
    origin.index.add(["model.yaml"])
    origin.index.commit("model")
    builder = PipelineBuilder(artifacts)
    repo = load_repository(tmp / "origin").require_valid()
    builder.build_model(repo, "sine", model_keys(repo, "sine"), lambda what, f: None)
    signer = Signer.load_or_create(tmp / "state")
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    sim = ctx.Process(target=simulate_devices, args=(url, count, public_pem(signer.public_key), str(tmp / "devices"),
                                                     ready, stop), daemon=True)
    sim.start()
    ready.wait(120)
    hub = DeviceHub(url, builder.store, client_id=f"bench-controller-{count}").start()
    store = StateStore(tmp / "state" / "origami-state.db")
    loop = Reconciler(store, GitSource(str(tmp / "origin"), tmp / "state" / "source", interval=0.5), builder,
                      HubLink(hub), signer)
    halt = threading.Event()
    done = threading.Event()
    result: dict = {}
    try:
        loop.link.settle(0.5, 30)
        loop.reconcile_once()  # devices recorded, the model's status too; no fleet yet
        (tmp / "origin" / "fleet.yaml").write_text(CONVERGE_FLEET.replace("COUNT", str(count)))
        origin.index.add(["fleet.yaml"])
        sha = origin.index.commit("fleet of all devices").hexsha
        cpu0, t0 = time.process_time(), time.perf_counter()

        def until(r) -> bool:
            obj = store.object("Fleet", "bench")
            ok = bool(obj and obj.observed_commit == sha and obj.is_true("Ready")
                      and obj.fleet.members == count)
            if ok and not result:
                result.update(s=time.perf_counter() - t0, cpu=time.process_time() - cpu0)
                done.set()
            return ok

        runner = threading.Thread(target=loop.run, args=(halt,), kwargs={"interval": 0.5, "until": until},
                                  daemon=True)
        runner.start()
        done.wait(900)
        halt.set()
        runner.join(60)
    finally:
        hub.stop()
        stop.set()
        sim.join(30)
    if not result:
        raise SystemExit(f"{count} devices did not converge within 900 s")
    return result["s"], result["cpu"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--broker", default=None, help="mqtt://HOST:PORT (default: a Mosquitto started here)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="origami-bench-reconcile-"))
    broker = None
    try:
        noop_ms, noop_actions, ready = noop(tmp / "noop")
        print(f"no-op pass, {MODELS} models, {DEVICES} devices: {noop_ms:.1f} ms (median of 5; target <= 200 ms), "
              f"{noop_actions} action(s); {ready}/{MODELS} fleets Ready", flush=True)
        url = args.broker
        if url is None:
            from tests.conftest import start_mosquitto

            broker = start_mosquitto(tmp / "mosquitto")
            url = broker.url
        figures = {"noop_ms": round(noop_ms, 1), "noop_actions": noop_actions}
        cpu_total = devices_total = 0
        for count in (200, 1000):
            seconds, cpu = converge(tmp / f"converge-{count}", url, count, tmp / "artifacts")
            figures[f"converge_s_{count}"] = round(seconds, 2)
            cpu_total, devices_total = cpu_total + cpu, devices_total + count
            print(f"commit to convergence, {count} virtual devices on Mosquitto: {seconds:.1f} s, controller CPU "
                  f"{cpu:.1f} s ({cpu / count * 1000:.1f} ms per device)", flush=True)
        figures["cpu_s_per_device"] = round(cpu_total / devices_total, 4)
    finally:
        if broker is not None:
            from tests.conftest import stop_mosquitto

            stop_mosquitto(broker)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures) if args.json else "", end="\n" if args.json else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
