"""A controller really rolling out and collecting: the reconcile loop (real pipeline on a tiny sine
model, real state store), the DeviceHub and the collector (CollectionService) on the session
Mosquitto, virtual Linux boards that record their virtual accelerometers when asked, and the
dashboard on a free loopback port, its metrics wired as `origami reconcile --listen` wires them.
Shared by the dashboard's browser and metrics tests."""
from __future__ import annotations

import threading
from pathlib import Path

from controller.collect.service import CollectionService
from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
from controller.reconciler.wiring import HubLink
from controller.reconciler.wiring import PipelineBuilder
from controller.sources.local import LocalSource
from controller.state import StateStore
from controller.web import ControllerMetrics
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from controller.web.metrics import wire_metrics
from device.virtual.linux_board import VirtualLinuxBoard
from specs.v1alpha1.collection import CollectRequest
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import SINE_MODEL
from tests.waiting import wait_until
from wire import topics
from wire.mqtt import MqttLink

SPECS = {
    "dataset.yaml": SINE_DATASET,
    "model.yaml": SINE_MODEL,
    "fleet.yaml": """apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: %(fleet)s}
spec:
  model: sine
  selector: {boards: [rpi4], matchLabels: {site: %(site)s}}
  rollout: {canary: 1, batchSize: 1, maxUnavailable: 1, pauseSeconds: %(pause)s}
""",
    "collected.yaml": """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: gestures}
spec:
  task: classification
  sources: [{type: collected, fleet: %(fleet)s, sensor: accel, window: %(window)s, labels: [idle, shake]}]
""",
}
WINDOW = 64  # readings per collected window


class RolloutWorld:
    def __init__(self, tmp: Path, broker_url: str, artifacts: Path, *, fleet: str, boards: int,
                 pause_seconds: float) -> None:
        self.fleet = fleet
        self.site = f"{fleet}-{tmp.name}".lower().replace("_", "-")
        self.broker_url = broker_url
        specs = tmp / "specs"
        specs.mkdir(parents=True)
        for name, text in SPECS.items():
            # The session broker keeps other tests' retained hellos: select only this world's boards.
            (specs / name).write_text(text % {"fleet": fleet, "site": self.site, "pause": pause_seconds,
                                              "window": WINDOW})
        self.store = StateStore(tmp / "state" / "origami-state.db")
        self.builder = PipelineBuilder(artifacts)  # shared across worlds: the second build is all cache hits
        self.signer = Signer.load_or_create(tmp / "state")
        self.hub = DeviceHub(broker_url, self.builder.store, client_id=f"controller-{fleet}").start()
        self.collection = CollectionService(broker_url, self.store.path, self.builder.store, store=self.store,
                                            client_id=f"collector-{self.site}").start()
        self.loop = Reconciler(self.store, LocalSource(specs), self.builder, HubLink(self.hub), self.signer)
        self.metrics = ControllerMetrics(self.store)
        wire_metrics(self.metrics, reconciler=self.loop, builder=self.builder, hub=self.hub,
                     collection=self.collection)
        self.tokens, self.token = ensure_operator_token(tmp / "state")
        self.server = DashboardServer(create_app(self.store, self.builder.store, self.metrics, tokens=self.tokens),
                                      "127.0.0.1", 0).start()
        self.boards = [VirtualLinuxBoard(f"{fleet}-{i}", broker_url, tmp / "disks" / str(i), self.signer.public_key,
                                         labels={"site": self.site}) for i in range(boards)]
        for board in self.boards:
            board.collection.pace = 0   # record as fast as the virtual sensor generates
            board.start()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop,), kwargs={"interval": 0.3},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    def wait(self, what: str, condition, timeout: float = 150.0):
        return wait_until(condition, what, timeout, context=lambda: "events: " + "; ".join(
            f"{e.reason}: {e.message}" for e in self.store.events(limit=8)))

    def wait_progressing(self) -> None:
        self.wait(f"Fleet/{self.fleet} to start rolling out",
                  lambda: (r := self.store.rollout(self.fleet)) is not None and r.phase == "progressing")

    def updated(self) -> int:
        obj = self.store.object("Fleet", self.fleet)
        return obj.fleet.updated if obj else 0

    def record(self, session: str, boards: int, windows: int, timeout: float = 60.0) -> int:
        """Ask the first `boards` boards to record `windows` unlabelled accelerometer windows each in
        `session` (a campaign, as a Fleet's `collect` asks), and wait until the collector stored them."""
        before = self.collection.collector.stats.windows
        self.collection.campaigns.apply([CollectRequest(
            deviceId=b.device_id, campaign=session, fleet=self.fleet, sensor="accel", rateHz=50.0,
            durationSeconds=windows * WINDOW / 50.0, window=WINDOW, session=session) for b in self.boards[:boards]])
        expected = before + boards * windows
        assert self.collection.collector.wait_for(windows=expected, timeout=timeout), \
            f"the collector stored {self.collection.collector.stats.windows} of {expected} windows"
        return boards * windows

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.collection.campaigns.apply([], [b.device_id for b in self.boards])  # clear retained requests
        for board in self.boards:
            board.stop()
        self.collection.stop()
        self.hub.stop()
        self.server.stop()
        self._clear_retained()

    def _clear_retained(self) -> None:
        """Leave the session broker as we found it: no retained hello/state/desired of our boards."""
        link = MqttLink(f"cleanup-{self.fleet}", self.broker_url).start()
        try:
            for board in self.boards:
                for channel in ("hello", "state", "presence", "desired"):
                    link.publish_and_wait(topics.device_topic(board.device_id, channel), b"", retain=True)
        finally:
            link.stop()



def rollout_world(tmp_path_factory, mosquitto, artifacts: Path, fleet: str, boards: int = 6,
                  pause_seconds: float = 2.0):
    world = RolloutWorld(tmp_path_factory.mktemp(f"world-{fleet}"), mosquitto.url, artifacts, fleet=fleet,
                         boards=boards, pause_seconds=pause_seconds)
    return world
