"""Three controller replicas (`origami reconcile` as real processes) share one PostgreSQL state and one
state directory (artifacts, keys); three fleets are sharded between them by leases. The replica
holding a fleet in mid-rollout is SIGKILLed; another takes the fleet over once its lease expires,
the rollouts complete, every device installed exactly once (counted on the devices and in the
install records), and the event trail is dense with one start and one completion per fleet.
"""
from __future__ import annotations

import os
import signal
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
SITES = ("a", "b", "c")
PER_SITE = 3
LEASE_S = 3.0
# A member's deviceTimeoutSeconds (60) is generous for a 2 KB artifact on a loaded 2-core machine, and
# well inside the convergence wait (180 s): a member that really fails halts its fleet, and the wait's
# dump shows why (member failures, each device's generation and lastUpdate, the fleet's events).


def fleet(site: str) -> str:
    return f"""apiVersion: origami/v1alpha1
kind: Fleet
metadata: {{name: site-{site}}}
spec:
  model: sine
  selector: {{boards: [rpi4], matchLabels: {{site: "{site}"}}}}
  rollout: {{canary: 1, batchSize: 1, maxUnavailable: 1, failureThreshold: 1, deviceTimeoutSeconds: 60}}
"""


class Replica:
    def __init__(self, name: str, origin: Path, state: Path, broker: str, url: str) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", "controller.cli.main", "reconcile", "--git", str(origin),
                     "--interval", "0.5", "--broker", broker, "--state-dir", str(state), "--state", url,
                     "--replica", name, "--lease", str(LEASE_S)]
        self.log = open(state / f"{name}.log", "ab")  # noqa: SIM115  (closed in stop())
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        self.process = subprocess.Popen(self.argv, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class State:
    """The shared state, read from outside the replicas as an operator would."""

    def __init__(self, state_dir: Path, url: str) -> None:
        self.state_dir, self.url = state_dir, url
        self._store: StateStore | None = None

    def store(self) -> StateStore | None:
        if self._store is None:
            try:
                self._store = StateStore(self.state_dir / "reader.db", read_only=True, url=self.url)
            except StoreError:  # not migrated yet
                return None
        return self._store

    def ready(self) -> set[str]:
        store = self.store()
        if store is None:
            return set()
        return {o.name for o in store.objects("Fleet") if o.is_true("Ready") and o.fleet.updated == PER_SITE}

    def installs(self) -> int:
        store = self.store()
        return len(store.installs()) if store else 0

    def describe(self) -> str:
        """What a failed wait shows: leases, fleet conditions, the last events."""
        store = self.store()
        if store is None:
            return "no state yet"
        lines = [f"lease {x.name}: {x.holder} term {x.term}" for x in store.leases()]
        lines += [f"{o.ref}: {[(c.type, c.status, c.reason, c.message) for c in o.conditions.values()]} "
                  f"{o.fleet.reasons}" for o in store.objects("Fleet")]
        lines += [f"install {i.install_id} {i.reason} at {i.recorded_at:.1f}" for i in store.installs()]
        failed = {o.name: store.failed_versions(o.name) for o in store.objects("Fleet")}
        lines += [f"failed {fleet_name} {device}: {sorted(versions)}" for fleet_name, by in failed.items()
                  for device, versions in by.items()]
        lines += [f"device {d.device_id} online={d.online} seen={d.last_seen:.1f} "
                  f"gen={d.reported.get('observedGeneration')} lastUpdate={d.reported.get('lastUpdate')}"
                  for d in store.devices()]
        ready, events = self.ready(), store.events()  # every event of an unready fleet, and the last ones
        lines += [f"#{e.seq} {e.kind}/{e.name} {e.reason}: {e.message}" for e in events
                  if e.kind == "Fleet" and e.name not in ready or e.seq > len(events) - 25]
        return "\n".join(lines)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def installs_seen(fleets: list[VirtualFleet]) -> dict[str, list[str]]:
    """Device -> digests it installed, from the devices' own `Installed` events (each fleet's counter
    hears every device on the broker: keep each fleet's own)."""
    return {d: digests for f in fleets for d, digests in f.installs().items() if d in f.device_ids}


def wait(what: str, condition, timeout: float, replicas: list[Replica], state: State) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if all(r.process.poll() is not None for r in replicas):
            raise AssertionError(f"every replica exited while waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{state.describe()}")


def test_three_replicas_one_sigkilled_mid_rollout_finish_every_fleet_installing_each_device_once(
        tmp_path, fresh_mosquitto, pg_url):
    origin = tmp_path / "origin"
    repo = git.Repo.init(origin, initial_branch="main")
    commit(repo, {"dataset.yaml": SINE_DATASET, "model.yaml": SINE_MODEL}
           | {f"fleet-{s}.yaml": fleet(s) for s in SITES}, "sine on three sites")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # The model built once here, into the shared artifact store: the replicas build only the bundles.
    specs = load_repository(origin).require_valid()
    PipelineBuilder(artifact_dir(state_dir)).build_model(specs, "sine", model_keys(specs, "sine"), lambda w, f: None)
    signer = Signer.load_or_create(state_dir)
    fleets = [VirtualFleet(fresh_mosquitto.url, tmp_path / f"devices-{s}", signer.public_key, {"rpi4": PER_SITE},
                           prefix=f"site-{s}", labels={"site": s}).start() for s in SITES]
    state = State(state_dir, pg_url)
    replicas: list[Replica] = []
    try:
        replicas = [Replica(f"r{i}", origin, state_dir, fresh_mosquitto.url, pg_url) for i in (1, 2, 3)]
        # Kill the replica that holds a fleet whose rollout is under way (some installs sent, not all).
        victim: Replica | None = None
        moving: str | None = None

        def rollout_under_way() -> bool:
            nonlocal victim, moving
            store = state.store()
            if store is None:
                return False
            ready = state.ready()
            for rollout in store.rollouts():
                sent = {i.device_id for i in store.installs() if i.fleet == rollout.fleet}
                lease = store.lease(f"fleet/{rollout.fleet}")
                if rollout.fleet not in ready and 0 < len(sent) < PER_SITE and lease is not None:
                    victim = next(r for r in replicas if r.name == lease.holder)
                    moving = rollout.fleet
                    return True
            return False

        wait("a rollout under way", rollout_under_way, 240, replicas, state)
        assert victim is not None and moving is not None
        assert all(r.process.poll() is None for r in replicas), "a replica exited before the kill"
        before = state.store().lease(f"fleet/{moving}")
        victim.kill()
        survivors = [r for r in replicas if r is not victim]

        wait("every fleet to converge", lambda: state.ready() == {f"site-{s}" for s in SITES}
             and len(installs_seen(fleets)) == len(SITES) * PER_SITE, 180, survivors, state)
        assert all(r.process.poll() is None for r in survivors), "a surviving replica exited"

        store = state.store()
        after = store.lease(f"fleet/{moving}")
        assert after is not None and after.holder != victim.name and after.term > before.term  # taken over
        installed = installs_seen(fleets)  # every device installed exactly once, as the devices saw it
        assert sorted(installed) == sorted(d for f in fleets for d in f.device_ids)
        assert all(len(digests) == 1 for digests in installed.values()), installed
        records = store.installs()  # and as the state recorded it: one install per device
        assert sorted(i.device_id for i in records) == sorted(d for f in fleets for d in f.device_ids)
        events = store.events()
        assert [e.seq for e in events] == list(range(1, len(events) + 1))  # a dense trail: no event lost
        for s in SITES:
            reasons = [e.reason for e in events if (e.kind, e.name) == ("Fleet", f"site-{s}")]
            assert reasons.count("RolloutStarted") == 1 and reasons.count("RolloutComplete") == 1, (s, reasons)
    finally:
        state.close()
        for r in replicas:
            r.stop()
        for f in fleets:
            f.stop()
