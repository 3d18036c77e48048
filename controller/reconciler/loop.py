"""The reconcile loop: level-triggered, idempotent passes from a spec source to a converged fleet.

A pass, phase by phase (each phase is a module of this package):
*fetch* and *validate* the source's revision (`revisions`: an invalid one is recorded and ignored,
the last good one stays in force), *ingest* what devices reported (`reports`), *plan* against the
stage cache and the recorded state (`controller.planning`), *build* what the plan says must be built
(`models`, through the `build_queue`, off this thread), *roll out* each fleet one step (`fleets`), and
*prune* what the specs no longer name, then (at most every few minutes) *maintain* bounded storage
(`maintenance`: garbage collection, forgetting long-gone devices). Every decision is written to the
state store before it is sent, so a SIGKILL at any point resumes without repeating a finished stage
or an install. A pass that fails for lack of disk space (`StorageError`) is logged and retried on the
next interval; what was recorded before it stays (every write is a transaction or a rename).

A settled controller skips the planning and fleet phases while nothing changed (`Settled`): same
revision, nothing committed to the state store since the last full pass (no report, no operator
action, no other process), no build running, every fleet Ready. Then a pass costs the same at 10 or
100,000 devices. A full pass still runs at least every `resync_s` (level-triggered all the same).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.loading import SpecRepository
from controller.planning.plan import Plan
from controller.planning.plan import RecordedState
from controller.planning.plan import plan_repository
from controller.reconciler.build_queue import BuildQueue
from controller.reconciler.fleets import FleetPhase
from controller.reconciler.maintenance import Maintenance
from controller.reconciler.models import ModelPhase
from controller.reconciler.ports import Builder
from controller.reconciler.ports import DeviceLink
from controller.reconciler.ports import Progress
from controller.reconciler.ports import Signer
from controller.reconciler.reports import ReportIngest
from controller.reconciler.revisions import RevisionTracker
from controller.reconciler.shards import Shards
from controller.sources import SpecSource
from controller.state import DesiredRecord
from controller.state import StateStore
from controller.store.publish import ArtifactPublisher
from specs.errors import OrigamiError
from specs.errors import StorageError
from specs.v1alpha1.protocol import DesiredState
from wire.logs import get_logger

log = get_logger("reconciler")
ONLINE_TIMEOUT_S = 180.0  # a device that sent nothing for this long is offline (devices report every 60 s)


@dataclass
class PassResult:
    revision: str | None = None
    actions: int = 0  # things done: builds started, installs sent
    builds: int = 0
    installs: int = 0
    building: int = 0  # builds still running when the pass ended
    ready: dict[str, bool] = field(default_factory=dict)  # fleet -> Ready
    plan: Plan | None = None


RESYNC_S = 60.0  # a settled controller still runs a full pass this often


@dataclass(frozen=True)
class Settled:
    """What a full pass that found nothing to do left: skip the next ones while `marker` holds."""

    revision: str
    marker: tuple[int, object]          # StateStore.change_marker() after the pass
    until: float                        # a full pass again after this (clock time)
    ready: dict[str, bool]
    plan: Plan


class Reconciler:
    def __init__(self, store: StateStore, source: SpecSource, builder: Builder, link: DeviceLink, signer: Signer,
                 *, progress: Progress | None = None, clock: Callable[[], float] = time.time,
                 builds: BuildQueue | None = None, online_timeout: float = ONLINE_TIMEOUT_S,
                 limits: Limits = DEFAULT_LIMITS, maintenance: Maintenance | None = None,
                 shards: Shards | None = None, publisher: ArtifactPublisher | None = None,
                 resync_s: float = RESYNC_S) -> None:
        self.store = store
        self.source = source
        self.builder = builder
        self.link = link
        self.signer = signer
        self.progress: Progress = progress or (lambda what, fraction: None)
        self.clock = clock
        self.builds = builds if builds is not None else BuildQueue(workers=0)
        self.revisions = RevisionTracker(store, source, limits)
        self.reports = ReportIngest(store, link, clock=clock, online_timeout=online_timeout)
        self.models = ModelPhase(store, builder, self.builds, self.progress, clock)
        self.fleets = FleetPhase(store, builder, link, signer, self.builds, self.progress, clock, online_timeout,
                                 publisher=publisher)
        self.maintenance = maintenance
        self.shards = shards  # replicas: only the fleets and builds this one holds a lease on
        if shards is not None:
            self.models.claim = shards.build
            self.fleets.holds = shards.holds_fleet
            self.fleets.served_since = shards.fleet_taken_at
        else:  # one controller: builds a previous one left running died with it. Among replicas another
            store.interrupt_stages()  # replica may be building right now, so a starting one leaves them be
        self.storage_failures = 0  # passes that failed for lack of disk space (a metric reads it)
        self.resync_s = resync_s
        self._settled: Settled | None = None
        self.skipped_passes = 0  # passes that found the controller settled and nothing changed
        self._lock = threading.Lock()
        self._kick = threading.Event()  # set by wake(): the running loop starts its next pass at once
        self._resent = False
        self._takeovers: set[str] = set()  # fleets taken over whose desired states are not re-sent yet
        self._claimed = False  # the first claim takes every fleet: the link read the retained state at start
        self._repo_hooks: list[Callable[[SpecRepository], None]] = []
        self._pass_hooks: list[Callable[[PassResult | None, float], None]] = []

    # --- observer ports ---------------------------------------------------------------------------
    def on_repository(self, hook: Callable[[SpecRepository], None]) -> None:
        """Call `hook(repo)` in every pass, before anything is built, with the specs in force (the
        collector configures collected datasets and campaigns from the same commit)."""
        self._repo_hooks.append(hook)

    def on_pass(self, hook: Callable[[PassResult | None, float], None]) -> None:
        """Call `hook(result, seconds)` after every pass (metrics, dashboards); `result` is None when
        the pass raised."""
        self._pass_hooks.append(hook)

    # --- one pass -------------------------------------------------------------------------------
    def resend_desired(self, fleet: str | None = None) -> None:
        """After a restart (or, `fleet` given, after a replica took that fleet over): publish every
        recorded desired state again (of that fleet's members), as recorded (same sequence), so a
        device that already applied it does nothing and one that missed it (the controller killed
        between record and send) gets it. A payload a device would ignore (from before signed desired
        states, or signed by a key rotated out since) is re-signed first with a new sequence and recorded."""
        for record in self.store.desired().values():
            if fleet is not None and record.fleet != fleet:
                continue
            payload = record.payload
            if payload.get("keyId") != self.signer.key_id or "sequence" not in payload:
                resigned = self._resign(record)
                if resigned is None:
                    continue
                payload = resigned
            self.link.set_desired(record.device_id, DesiredState.model_validate(payload))

    def _resign(self, record: DesiredRecord) -> dict[str, Any] | None:
        """The recorded assignment signed again, or None when the device's board is not known yet
        (it gets a desired state after its hello)."""
        device = self.store.device(record.device_id)
        if device is None or not device.board:
            return None
        old = record.payload
        now = self.clock()
        fields = {k: old[k] for k in ("generation", "artifact", "chunkSize", "healthCheck", "maxLatencyMs",
                                      "issuedAt") if old.get(k) is not None}
        with self.store.transaction():
            desired = self.signer.sign_desired(DesiredState.model_validate(
                fields | {"deviceId": record.device_id, "board": device.board, "fleet": record.fleet,
                          "sequence": self.store.allocate_sequence(now)}))
            payload: dict[str, Any] = desired.model_dump(mode="json")
            self.store.replace_desired_payload(record.device_id, record.install_id, payload)
        log.info("desired state re-signed", extra={"device": record.device_id, "sequence": desired.sequence})
        return payload

    def reconcile_once(self) -> PassResult:
        started = time.perf_counter()
        result: PassResult | None = None
        try:
            with self._lock:
                result = self._pass()
            return result
        finally:
            for hook in self._pass_hooks:
                hook(result, time.perf_counter() - started)

    def claim_fleets(self, names: Iterable[str]) -> list[str]:
        """The fleets of `names` this process rolls out: all of them for one controller; for a
        replica, those it holds a lease on. A fleet a replica has just taken over gets its recorded
        desired states re-sent first (`resend_desired(fleet)`): the replica that held it may have
        died between recording installs and sending them, and nobody else would ever send them."""
        if self.shards is None:
            return list(names)
        mine = self.shards.fleets(names)
        taken = self.shards.taken_fleets()
        if taken and self._claimed:
            self._reread_retained(taken)
        self._claimed = True
        self._takeovers |= taken
        for name in mine:
            if name in self._takeovers:
                self.resend_desired(name)
                self._takeovers.discard(name)  # only once sent: a failed publish is retried next pass
        return mine

    def _reread_retained(self, taken: set[str]) -> None:
        """Reports in flight to a replica that died are lost with it when they come through a shared
        subscription; what they said lives on in the devices' retained hellos, states and presence,
        which the taker reads again (ingested on the next pass). A failure is logged: the next
        report of each device, and the next takeover, bring the state back too."""
        try:
            self.link.reread_retained()
        except OrigamiError as err:
            log.warning("retained state not re-read after a takeover", extra={"fleets": sorted(taken),
                                                                              "error": str(err)})

    def _pass(self) -> PassResult:
        if not self._resent and self.shards is None:  # replicas re-send per fleet, as they take it
            self.resend_desired()
            self._resent = True
        result = PassResult()
        revision, repo = self.revisions.current(self.clock())
        result.revision = revision.id if revision else None
        self.reports.ingest()
        if revision is None or repo is None:
            return result
        settled = self._still_settled(revision.id)
        if settled is not None:
            self.skipped_passes += 1
            result.ready, result.plan = dict(settled.ready), settled.plan
            self._maintain(settled.plan)
            return result
        self._settled = None
        for hook in self._repo_hooks:
            hook(repo)
        plan = plan_repository(repo, RecordedState.from_store(self.store), self.builder.is_built)
        result.plan = plan
        outcomes = self.models.apply(repo, plan, revision.id)
        self.fleets.begin_pass()
        result.builds = self.models.started
        for name in self.claim_fleets(plan.graph.fleets):
            keys = plan.graph.fleets[name]
            sent, ready = self.fleets.apply(repo, plan, name, outcomes.get(keys.model), revision.id)
            result.installs += sent
            result.ready[name] = ready
        self._prune(plan)
        self._maintain(plan)
        result.building = len(self.builds.busy())
        result.actions = result.builds + result.installs
        self._settle(revision.id, result)
        return result

    def _still_settled(self, revision: str) -> Settled | None:
        """The last full pass's outcome while nothing changed since; None when a full pass is due."""
        settled = self._settled
        if (settled is not None and settled.revision == revision and self.clock() < settled.until
                and not self.builds.busy() and self.store.change_marker() == settled.marker):
            return settled
        return None

    def _settle(self, revision: str, result: PassResult) -> None:
        """Remember a pass that did nothing and left everything Ready (one replica among several never
        settles: its leases need renewing and the others' writes are its input)."""
        if (self.shards is not None or self.resync_s <= 0 or result.plan is None or result.actions or result.building
                or not all(result.ready.values())
                or not all(o.is_true("Ready") for o in self.store.objects("Model"))):
            return
        self._settled = Settled(revision, self.store.change_marker(), self.clock() + self.resync_s,
                                dict(result.ready), result.plan)

    def _maintain(self, plan: Plan) -> None:
        """Bounded storage after the pass; a failure here is logged and never fails the pass."""
        if self.maintenance is None:
            return
        in_rollout: set[str] = set()
        for record in self.store.rollouts():
            if record.phase == "progressing":
                in_rollout |= {d.device_id for d in plan.members.get(record.fleet, [])}
        try:
            self.maintenance.after_pass(plan, in_rollout)
        except (OrigamiError, OSError) as err:
            log.warning("storage maintenance failed; retried on a later pass", extra={"error": str(err)})

    def _prune(self, plan: Plan) -> None:
        graph = plan.graph
        wanted = {("Dataset", n) for n in graph.datasets} | {("Model", n) for n in graph.models} | {
            ("Fleet", n) for n in graph.fleets}
        for obj in self.store.objects():
            if obj.kind in ("Dataset", "Model", "Fleet") and (obj.kind, obj.name) not in wanted:
                with self.store.transaction():
                    self.store.delete_object(obj.kind, obj.name)
                    self.store.emit(obj.kind, obj.name, "Removed", "no longer in the specs; devices keep what they run")
        self.source.prune(self.revisions.in_use() | set(self.models.revisions.values())
                          | set(self.fleets.revisions.values()))

    # --- running --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, interval: float = 2.0, once: bool = False,
            until: Callable[[PassResult], bool] | None = None) -> PassResult:
        """Pass after pass until `stop` is set (or once, or until `until(result)` is true)."""
        kick = self._kick
        watcher = threading.Thread(target=self.source.watch, args=(kick.set, stop), daemon=True)
        if not once:
            watcher.start()
            self.link.on_activity(kick.set)  # a device report wakes the loop at once
            self.builds.on_finished(kick.set)  # so does a finished build
        self.link.settle()  # decide on the devices that exist (retained hellos), not on none
        while True:
            try:
                result = self.reconcile_once()
            except StorageError as err:
                if once:
                    raise
                self._storage_failed(err)
                if stop.wait(interval):
                    return PassResult()
                continue
            if once or stop.is_set() or (until and until(result)):
                return result
            kick.wait(interval)
            kick.clear()

    def wake(self) -> None:
        """Start the next pass now instead of after the interval (`origami reconcile now`, a git
        webhook): a pass fetches the source first, so a pushed commit is applied without waiting for
        the poll. Returns at once; passes never overlap. That pass is a full one (`resync`)."""
        self.resync()
        self._kick.set()

    def resync(self) -> None:
        """The next pass plans and visits every fleet even if nothing changed since the last one."""
        self._settled = None

    def _storage_failed(self, err: StorageError) -> None:
        """A full disk: say so (an event when there is still room for one) and keep running; the
        failed pass's transaction rolled back, so the next pass redoes exactly what was missing."""
        self.storage_failures += 1
        log.error("pass failed: the state directory is out of space; retrying", extra={"error": str(err)})
        try:
            self.store.emit("Source", "storage", "DiskFull", str(err), warning=True)
        except (OrigamiError, OSError):
            pass  # no room even for the event: the log line above is all there is
