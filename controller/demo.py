"""`make demo`: the whole lifecycle on the embedded defaults (amqtt on loopback, no --broker).

1. examples/digits-mixed is copied into a real git repository in a temp directory;
2. a virtual fleet of 21 devices starts: Linux boards (rpi4, jetson-nano) running the device agent,
   and microcontrollers (nano33ble, esp32s3, nano33ble-lite) with real TFLM behind a gateway; beside
   them an emulated Nano 33 BLE Sense: the C device core and TFLM built for its Cortex-M4F, on QEMU,
   behind a gateway on its serial port (controller/demo_emulated.py; skipped, said, without the tools);
3. the controller reconciles the repository: snapshot, train, squeeze, measure, gate, choose a
   variant per device class (a split head for nano33ble-lite, whose tail a worker then serves),
   render firmware, and roll out canary-first until every device reports the desired version;
4. a commit changes the model (train longer) and the rolling update converges;
5. the status table.

To stay within a few minutes on two cores the copy trains 12 epochs instead of the example's 30
(the digits CNN passes its gates well before); the demo says so when it starts.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import git

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from controller.cli.main import main
from controller.cli.native_output import quiet_native_output
from controller.demo_emulated import DEVICE_ID as EMULATED_ID
from controller.demo_emulated import OPERATORS as EMULATED_OPERATORS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits-mixed"
FLEET = {"rpi4": 6, "jetson-nano": 6, "nano33ble": 3, "esp32s3": 3, "nano33ble-lite": 3}
DEMO_EPOCHS = 12
TIMEOUT_S = 600


def _progress_line(store, fleets: list[str], started: float) -> str:
    parts = []
    for name in fleets:
        obj = store.object("Fleet", name)
        if obj is None:
            parts.append(f"{name}: waiting")
            continue
        d = obj.fleet
        state = "Ready" if obj.is_true("Ready") else d.phase or "building"
        if obj.last_error:
            state = f"{state} ({obj.last_error[:60]})"
        parts.append(f"{name}: {d.updated}/{d.members} updated, {d.pending} updating [{state}]")
    models = [o for o in store.objects("Model")]
    building = [o.name for o in models if o.is_true("Reconciling")]
    return f"  {time.monotonic() - started:5.0f}s  " + ("building " + ", ".join(building) + "; " if building
                                                           else "") + "; ".join(parts)


def _emulated_reports(store, emulated, commit: str) -> bool:
    """The emulated board counts too (it may join after a fleet first read Ready): its fleet's last
    pass at this commit must have seen it prove the desired digest, generation and health."""
    if emulated is None:
        return True
    desired = store.desired().get(EMULATED_ID)
    fleet = store.object("Fleet", desired.fleet) if desired is not None else None
    return bool(fleet and fleet.observed_commit == commit
                and fleet.fleet.states.get(EMULATED_ID) == "updated")


def _wait_converged(store, fleets: list[str], commit: str, title: str, emulated=None) -> bool:
    print(f"\n== {title}", flush=True)
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < TIMEOUT_S:
        line = _progress_line(store, fleets, started)
        if line.split("s  ", 1)[-1] != last:
            print(line, flush=True)
            last = line.split("s  ", 1)[-1]
        objs = [store.object("Fleet", f) for f in fleets]
        if all(o and o.observed_commit == commit and o.is_true("Ready") for o in objs) and \
                _emulated_reports(store, emulated, commit):
            print(f"  every device reports the desired version ({time.monotonic() - started:.0f}s)", flush=True)
            return True
        time.sleep(1.0)
    print(f"demo: not converged after {TIMEOUT_S}s", file=sys.stderr)
    return False


def _start_tail_workers(store, builder, url: str):
    """Serve the tails of every split head the fleets run (what `origami worker` does)."""
    from controller.split.worker import TailWorker

    tails = set()
    for obj in store.objects("Fleet"):
        release = obj.fleet.releases.get(obj.fleet.version or "", {})
        tails |= {art["tail"] for art in release.values() if art.get("tail")}
    if not tails:
        return None
    worker = TailWorker(url, [builder.store.read_bytes(t) for t in sorted(tails)], "origami-demo-worker").start()
    print(f"  split tail worker serving {len(tails)} tail(s): {', '.join(t[:12] for t in sorted(tails))}",
          flush=True)
    return worker


def _spec_repository(work: Path) -> tuple[git.Repo, Path, str]:
    """The example, copied into a fresh git repository (trained shorter for the demo); its first commit."""
    specs = work / "specs"
    shutil.copytree(EXAMPLE, specs)
    model_yaml = specs / "model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace("epochs: 30", f"epochs: {DEMO_EPOCHS}"))
    repo = git.Repo.init(specs, initial_branch="main")
    repo.git.add(A=True)
    first = repo.index.commit(f"digits-mixed example ({DEMO_EPOCHS} epochs for the demo)").hexsha
    return repo, specs, first


def _commit_model_change(repo: git.Repo, specs: Path) -> str:
    """A smaller dense layer: every variant's bytes change, so every board gets a new model (more
    epochs alone may not: early stopping can restore the same best weights)."""
    model_yaml = specs / "model.yaml"
    text = model_yaml.read_text()
    model_yaml.write_text(text.replace("units: [16, 32, 128]", "units: [16, 32, 64]"))
    repo.index.add(["model.yaml"])
    return repo.index.commit("digits-cnn: a dense layer of 64 units instead of 128").hexsha


def _show_releases(store, fleets: list[str]) -> None:
    for name in fleets:
        d = store.object("Fleet", name).fleet
        for board, art in sorted(d.releases[d.version or ""].items()):
            print(f"  {name}/{board}: {art['variant']} ({art['target']['runtime']}, {art['size']} B)"
                  + (f", firmware {art['firmware_status'].split(':')[0]}" if art.get("firmware") else "")
                  + f" - {art['note'][:90]}")


def _show_first_install(store, fleet: str) -> None:
    installs = sorted((i for i in store.installs() if i.version == store.object("Fleet", fleet).fleet.version),
                      key=lambda i: i.recorded_at)
    if installs:
        print(f"  {fleet}: first install of the new version went to {installs[0].device_id} ({installs[0].reason})")


def _start_emulated(work: Path, operators: tuple[str, ...] = EMULATED_OPERATORS):
    """The emulated Nano 33's firmware build, started before the controller so that it overlaps training."""
    from controller.demo_emulated import EmulatedNano
    from controller.devices.signing import Signer
    from controller.firmware.qemu import emulator_missing

    why_not = emulator_missing()
    if why_not:
        print(f"demo: no emulated Nano 33 this time: {why_not}", flush=True)
        return None
    (work / "state").mkdir(parents=True, exist_ok=True)
    return EmulatedNano(work, Signer.load_or_create(work / "state").public_key, operators).start()


def _show_emulated(store, emulated) -> None:
    """What the emulated board's own C code says it runs, beside what the controller recorded."""
    device = store.device(EMULATED_ID)
    on_board = emulated.on_board_state()
    last = on_board.get("lastUpdate") or {}
    print(f"  {device.device_id} (QEMU, C device core): slot {on_board.get('activeSlot')}, model digest "
          f"{str(on_board.get('modelDigest'))[:12]}, health {on_board.get('health')}, last update "
          f"{last.get('outcome')}; the controller records {device.reported_version}", flush=True)


class _Controller:
    """The embedded broker, the virtual fleet and the reconcile loop on its thread, as `reconcile` runs them."""

    def __init__(self, work: Path, specs: Path, fleet: dict[str, int] | None = None, *, collect: bool = False) -> None:
        """`collect`: run the sample collector too, with the campaigns the specs ask for (demo-kws)."""
        from controller.devices.hub import DeviceHub
        from controller.devices.signing import Signer
        from controller.embedded_broker import EmbeddedBroker
        from controller.loading import load_repository
        from controller.reconciler.build_queue import BuildQueue
        from controller.reconciler.loop import Reconciler
        from controller.reconciler.sandbox import SandboxedBuilder
        from controller.reconciler.wiring import HubLink
        from controller.sources.git import GitSource
        from controller.state import open_store
        from device.virtual.fleet import VirtualFleet

        self.state = work / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker(self.state).start()
        print(f"demo: {self.broker.startup_line()}")
        self.store = open_store(self.state)
        signer = Signer.load_or_create(self.state)
        self.builder = SandboxedBuilder(self.state, public_key=signer.public_key)
        repo = load_repository(specs).require_valid()
        self.fleets = sorted(repo.fleets)
        self.profiles = repo.profiles
        fleet = fleet or FLEET
        print(f"demo: starting {sum(fleet.values())} virtual devices: "
              + ", ".join(f"{n} {board}" for board, n in fleet.items()), flush=True)
        self.devices = VirtualFleet(self.broker.url, work / "devices", signer.public_key, fleet, prefix="demo",
                                    profiles=repo.profiles).start()
        self.hub = DeviceHub(self.broker.url, self.builder.store, client_id="origami-demo-controller").start()
        self.hub.announce_keys(signer.announcement())
        self.builds = BuildQueue(workers=1)
        self.collection = None
        if collect:
            from controller.collect.service import CollectionService

            self.collection = CollectionService(self.broker.url, self.store.path, self.builder.store, store=self.store,
                                                client_id="origami-demo-collector", campaign_link=self.hub.link).start()
        loop = Reconciler(self.store, GitSource(str(specs), self.state / "source", interval=1.0), self.builder,
                          HubLink(self.hub), signer, builds=self.builds)
        if self.collection is not None:
            loop.on_repository(lambda repo: self.collection.apply(repo, self.store.devices()))
        self.stop_loop = threading.Event()
        self.thread = threading.Thread(target=loop.run, args=(self.stop_loop,), kwargs={"interval": 1.0}, daemon=True)
        self.thread.start()
        self.worker = None

    def serve_tails(self) -> None:
        self.worker = _start_tail_workers(self.store, self.builder, self.broker.url)

    def stop(self) -> None:
        self.stop_loop.set()
        self.thread.join(timeout=30)
        self.builds.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.collection is not None:
            self.collection.stop()
        self.hub.stop()
        self.devices.stop()
        self.broker.stop()


def run() -> int:
    # The demo shows Origami's progress, not TensorFlow's chatter, whatever TF_CPP_MIN_LOG_LEVEL the
    # Makefile exports; `make demo ORIGAMI_LOG_LEVEL=DEBUG` shows it all.
    quiet_native_output(os.environ.get("ORIGAMI_LOG_LEVEL", "WARNING"))
    work = Path(tempfile.mkdtemp(prefix="origami-demo-"))
    repo, specs, first = _spec_repository(work)
    print(f"demo: spec repository {specs} (git, branch main); state in {work / 'state'}")
    print(f"demo: training {DEMO_EPOCHS} epochs instead of the example's 30, to stay within a few minutes")
    if main(["validate", str(specs)]) != 0:
        return 1
    emulated = _start_emulated(work)
    controller = _Controller(work, specs)
    store, fleets = controller.store, controller.fleets
    try:
        if emulated is not None and not emulated.attach(controller.broker.url, controller.profiles):
            emulated = None
        if not _wait_converged(store, fleets, first, "Reconcile the first commit: build, choose, roll out",
                               emulated):
            return 1
        controller.serve_tails()
        _show_releases(store, fleets)
        second = _commit_model_change(repo, specs)
        print(f"\ndemo: committed {second[:12]} (a model change): retrain, then a rolling update, canary first")
        if not _wait_converged(store, fleets, second, "Reconcile the model change", emulated):
            return 1
        _show_first_install(store, fleets[0])
        if emulated is not None:
            _show_emulated(store, emulated)
    finally:
        if emulated is not None:
            emulated.stop()
        controller.stop()
    print("\n== Status table\n$ origami status", flush=True)
    main(["status", "--state-dir", str(controller.state)])
    print("\n$ origami get devices", flush=True)
    return main(["get", "devices", "--state-dir", str(controller.state)])


if __name__ == "__main__":
    sys.exit(run())
