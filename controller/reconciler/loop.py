"""The reconcile loop: level-triggered, idempotent passes from a spec source to a converged fleet.

A pass: *fetch* the source, *validate* the commit (an invalid one is recorded and ignored: the last
good desired state stays in force), *ingest* what devices reported, *plan* against the recorded
state, *build* the models whose keys changed (each model on its own, with back-off on failure),
then *roll out* each fleet one step. Every decision is written to the state store before it is
sent, so a SIGKILL at any point resumes without repeating a finished stage or an install.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.loading import SpecRepository
from controller.planning.graph import DesiredGraph
from controller.planning.plan import RecordedState, plan_repository
from controller.reconciler.backoff import next_attempt
from controller.reconciler.conditions import with_conditions
from controller.reconciler.ports import (
    Artifact,
    Builder,
    DeviceLink,
    ModelOutcome,
    Progress,
)
from controller.reconciler.rollout import Member, next_step
from controller.sources import Snapshot, SpecSource, load_snapshot
from controller.state import InstallRecord, ObjectStatus, RolloutRecord, StateStore
from specs.errors import OrigamiError, SourceError
from specs.v1alpha1.protocol import (
    DesiredState,
    Hello,
    Manifest,
    Presence,
    ReportedState,
)
from wire.logs import get_logger

log = get_logger("reconciler")
FAILED_OUTCOMES = ("rolled-back", "rejected", "failed")
KEEP_RELEASES = 4  # versions of artifacts kept per fleet (current, last good, and a few before)


@dataclass
class PassResult:
    revision: str | None = None
    actions: int = 0  # things done: builds, installs sent, rollout transitions
    builds: int = 0
    installs: int = 0
    ready: dict[str, bool] = field(default_factory=dict)  # fleet -> Ready


class Reconciler:
    def __init__(self, store: StateStore, source: SpecSource, builder: Builder, link: DeviceLink, signer,
                 *, progress: Progress | None = None, clock=time.time) -> None:
        self.store = store
        self.source = source
        self.builder = builder
        self.link = link
        self.signer = signer
        self.progress = progress or (lambda what, fraction: None)
        self.clock = clock
        self._repo: tuple[str, SpecRepository] | None = None
        self._outcomes: dict[str, tuple[str, ModelOutcome]] = {}  # model -> (key, outcome) built this run
        self._lock = threading.Lock()
        self._resent = False
        self._repo_hooks: list = []

    def on_repository(self, hook) -> None:
        """Call `hook(repo)` in every pass, before anything is built, with the specs in force.

        The collector uses it to configure collected datasets and campaigns from the same
        commit the pass builds from.
        """
        self._repo_hooks.append(hook)

    # --- source ---------------------------------------------------------------------------------
    def _desired_repo(self) -> tuple[str | None, SpecRepository | None]:
        """Fetch and validate; the repository of the last good commit (this one if it is valid)."""
        now = self.clock()
        try:
            snap = self.source.fetch()
        except (SourceError, OrigamiError) as err:
            self._source_status(False, "FetchFailed", str(err), now)
            return self._last_good()
        known = self.store.commit(snap.revision)
        if known is None:
            repo = load_snapshot(snap)
            issues = [str(i) for i in repo.issues]
            texts = [(n, t) for n, t, e in snap.texts if t is not None] if repo.valid else None
            with self.store.transaction():
                self.store.record_commit(snap.revision, snap.source, repo.valid, issues, texts)
                if repo.valid:
                    self.store.emit("Source", "specs", "CommitObserved",
                                    f"{snap.short} valid: {snap.summary or 'no message'}", commit=snap.revision)
                else:
                    self.store.emit("Source", "specs", "CommitInvalid",
                                    f"{snap.short} does not validate ({len(issues)} error(s)); keeping the last "
                                    f"good commit. First: {issues[0]}", warning=True, commit=snap.revision)
            if repo.valid:
                self.source.materialize(snap)
                self._repo = (snap.revision, repo)
        elif known.valid and (self._repo is None or self._repo[0] != snap.revision):
            self.source.materialize(snap)
            self._repo = (snap.revision, load_snapshot(snap))
        known = self.store.commit(snap.revision)
        if known.valid:
            self._source_status(True, "Fetched", f"at {snap.short}", now, revision=snap.revision)
        else:
            self._source_status(False, "CommitInvalid", f"{snap.short}: " + "; ".join(known.issues[:3]), now,
                                revision=snap.revision)
        return self._last_good()

    def _last_good(self) -> tuple[str | None, SpecRepository | None]:
        _, good = self.store.source_state()
        if good is None:
            return None, None
        if self._repo and self._repo[0] == good:
            return self._repo
        record = self.store.commit(good)  # after a restart on an invalid head: re-load from the store
        snap = Snapshot(good, record.source, tuple((n, t, None) for n, t in record.texts), _root_of(self.source))
        self.source.materialize(snap)
        self._repo = (good, load_snapshot(snap))
        return self._repo

    def _source_status(self, ok: bool, reason: str, message: str, now: float, revision: str | None = None) -> None:
        old = self.store.object("Source", "specs") or ObjectStatus("Source", "specs")
        _, good = self.store.source_state()
        new = with_conditions(replace(old, observed_commit=revision or old.observed_commit,
                                      last_error=None if ok else message,
                                      detail={"source": self.source.description, "last_good": good}),
                              now, ready=(ok, reason, message), stalled=(not ok, reason, "" if ok else message))
        if new.conditions != old.conditions or new.observed_commit != old.observed_commit or \
                new.detail != old.detail:
            self.store.put_object(new)

    # --- devices --------------------------------------------------------------------------------
    def ingest(self) -> int:
        """Record what devices said; a report is durable once this returns."""
        observations = self.link.poll()
        if not observations:
            return 0
        with self.store.transaction():
            for o in observations:
                if isinstance(o, Hello):
                    caps = o.capabilities
                    self.store.observe_device(o.deviceId, board=caps.profile or caps.board or None,
                                              labels=o.labels, hello=o.model_dump(mode="json"), seen_at=o.ts)
                elif isinstance(o, ReportedState):
                    failed = o.lastUpdate.version if o.lastUpdate and o.lastUpdate.outcome in FAILED_OUTCOMES \
                        else None
                    reported = o.model_dump(mode="json") | {"failedVersion": failed}
                    self.store.observe_device(o.deviceId, reported=reported, reported_version=o.modelVersion,
                                              healthy=o.health != "failed", seen_at=o.ts)
                elif isinstance(o, Presence):
                    self.store.observe_device(o.deviceId, online=o.online, seen_at=o.ts)
        return len(observations)

    def resend_desired(self) -> None:
        """After a restart: publish every recorded desired state again. Same generation, so a device
        that already has it does nothing; one that missed it (killed between record and send) gets it."""
        for record in self.store.desired().values():
            self.link.set_desired(record.device_id, DesiredState.model_validate(record.payload))

    # --- one pass -------------------------------------------------------------------------------
    def reconcile_once(self) -> PassResult:
        with self._lock:
            if not self._resent:
                self.resend_desired()
                self._resent = True
            result = PassResult()
            revision, repo = self._desired_repo()
            result.revision = revision
            self.ingest()
            if repo is None:
                return result
            for hook in self._repo_hooks:
                hook(repo)
            now = self.clock()
            state = RecordedState.from_store(self.store)
            plan = plan_repository(repo, state, self._cached)
            graph = plan.graph
            for name in graph.models:
                result.builds += self._model(repo, graph, name, revision, now)
            self._datasets(repo, graph, revision, now)
            members, conflicts = plan.members, plan.conflicts
            for name in graph.fleets:
                sent, ready = self._fleet(repo, graph, name, members[name], conflicts.get(name, []), revision,
                                          state.desired)
                result.installs += sent
                result.ready[name] = ready
            self._prune(graph)
            result.actions = result.builds + result.installs
            return result

    def _cached(self, kind: str, key: str) -> bool:
        stage = self.store.stage(key)
        return bool(stage and stage["status"] == "done")

    def _datasets(self, repo: SpecRepository, graph: DesiredGraph, revision: str, now: float) -> None:
        for name, node in graph.datasets.items():
            old = self.store.object("Dataset", name) or ObjectStatus("Dataset", name)
            users = [m for m, spec in repo.models.items() if spec.spec.dataset == name]
            built = [self._outcomes[m][1].dataset_digest for m in users if m in self._outcomes
                     and self._outcomes[m][0] == graph.models[m].key]
            recorded = [o.detail.get("dataset") for m in users if (o := self.store.object("Model", m))
                         and o.desired_key == graph.models[m].key and o.detail.get("built")]
            digest = next((d for d in built + recorded if d), old.detail.get("snapshot"))
            ready = not users or old.desired_key == node.key or bool(built) or bool(recorded)
            new = with_conditions(replace(old, observed_commit=revision, desired_key=node.key if ready else
                                          old.desired_key, detail={"snapshot": digest, "models": users}), now,
                                  ready=(ready, "Snapshotted" if users else "Unused", digest or ""),
                                  reconciling=(not ready, "Snapshotting", ""))
            if (new.conditions, new.desired_key, new.detail, new.observed_commit) != (
                    old.conditions, old.desired_key, old.detail, old.observed_commit):
                self.store.put_object(new)

    def _model(self, repo: SpecRepository, graph: DesiredGraph, name: str, revision: str, now: float) -> int:
        node = graph.models[name]
        old = self.store.object("Model", name) or ObjectStatus("Model", name)
        if name in self._outcomes and self._outcomes[name][0] == node.key:
            if old.observed_commit != revision:
                self.store.put_object(replace(old, observed_commit=revision))
            return 0
        if old.desired_key == node.key and old.detail.get("built"):
            # Built before a restart: the pipeline's own stage cache makes this a cheap re-load,
            # done lazily when a fleet needs artifacts.
            if old.observed_commit != revision:
                self.store.put_object(replace(old, observed_commit=revision))
            return 0
        if old.failures and old.detail.get("failed_key") == node.key and now < old.next_attempt:
            return 0
        self.store.put_object(with_conditions(replace(old, observed_commit=revision), now,
                                              ready=(False, "Building", ""),
                                              reconciling=(True, "Building", f"key {node.key[:12]}")))
        self.store.stage_started(node.key, "build", f"Model/{name}")
        self.store.emit("Model", name, "BuildStarted", f"building {name} ({node.key[:12]})", commit=revision)
        try:
            outcome = self.builder.build(repo, name, lambda what, f: self.progress(f"Model/{name}: {what}", f))
        except Exception as err:
            if not isinstance(err, OrigamiError):
                log.error("build crashed", exc_info=True, extra={"model": name})
                err = OrigamiError(f"build crashed: {type(err).__name__}: {err}")
            failures = old.failures + 1 if old.detail.get("failed_key") == node.key else 1
            retry = next_attempt(failures, now)
            with self.store.transaction():
                self.store.stage_finished(node.key, False, {"error": str(err)})
                self.store.put_object(with_conditions(
                    replace(old, observed_commit=revision, last_error=str(err), failures=failures, next_attempt=retry,
                            detail=old.detail | {"failed_key": node.key}), now,
                    ready=(False, "BuildFailed", str(err)), stalled=(True, "BuildFailed", str(err))))
                self.store.emit("Model", name, "BuildFailed", f"{err} (retry in {retry - now:.0f}s)", warning=True,
                                commit=revision)
            return 1
        self._outcomes[name] = (node.key, outcome)
        passed = [v for v, f in outcome.variants.items() if f.get("passed")]
        message = f"{len(passed)}/{len(outcome.variants)} variant(s) pass the gates"
        with self.store.transaction():
            self.store.stage_finished(node.key, True, {"variants": outcome.variants, "stages": outcome.stages_run})
            for vname, vkey in node.variants.items():
                self.store.stage_started(vkey, "squeeze", f"Model/{name}#{vname}")
                self.store.stage_finished(vkey, vname in passed, outcome.variants.get(vname, {}))
            self.store.put_object(with_conditions(
                replace(old, observed_commit=revision, desired_key=node.key, last_error=None, failures=0,
                        next_attempt=0, detail={"built": True, "variant_keys": node.variants,
                                                "variants": outcome.variants, "dataset": outcome.dataset_digest,
                                                "stages_run": outcome.stages_run}), now,
                ready=(bool(passed), "Built" if passed else "GatesFailed", message),
                stalled=(not passed, "GatesFailed", "" if passed else message)))
            self.store.emit("Model", name, "Built", message, warning=not passed, commit=revision)
        return 1

    def _outcome(self, repo: SpecRepository, graph: DesiredGraph, model: str) -> ModelOutcome | None:
        """The built model for the current key: this run's, or re-loaded through the stage cache."""
        key = graph.models[model].key
        if model in self._outcomes and self._outcomes[model][0] == key:
            return self._outcomes[model][1]
        obj = self.store.object("Model", model)
        if obj and obj.desired_key == key and obj.detail.get("built"):
            outcome = self.builder.build(repo, model, lambda what, f: None)  # all stages cached
            self._outcomes[model] = (key, outcome)
            return outcome
        return None

    # --- fleets ---------------------------------------------------------------------------------
    def _fleet(self, repo: SpecRepository, graph: DesiredGraph, name: str, devices, conflicts: list[str],
               revision: str, desired: dict) -> tuple[int, bool]:
        node = graph.fleets[name]
        spec = repo.fleets[name].spec
        now = self.clock()
        old = self.store.object("Fleet", name) or ObjectStatus("Fleet", name)
        record = self.store.rollout(name) or RolloutRecord(name)
        releases: dict[str, dict[str, dict]] = dict(old.detail.get("releases", {}))
        boards = sorted({d.board for d in devices})
        problem = None
        desired_version = None
        if node.version in releases and all(b in releases[node.version] for b in boards):
            desired_version = node.version
        else:
            outcome = None
            try:
                outcome = self._outcome(repo, graph, node.model)
            except OrigamiError as err:
                problem = f"Model/{node.model}: {err}"
            if outcome is None:
                problem = problem or f"waiting for Model/{node.model} to build"
            else:
                artifacts = dict(releases.get(node.version, {}))
                hellos = {d.board: d.hello for d in devices}
                for board in boards:
                    if board in artifacts:
                        continue
                    try:
                        hello = Hello.model_validate(hellos[board]) if hellos.get(board) else None
                        artifacts[board] = self.builder.artifact_for(repo, name, outcome, board, hello).to_dict()
                    except OrigamiError as err:
                        problem = f"{board}: {err}"
                        break
                if problem is None:
                    releases[node.version] = artifacts
                    desired_version = node.version
                    keep = [v for v in (node.version, record.target, record.last_good, record.previous_good) if v]
                    releases = {v: releases[v] for v in dict.fromkeys(keep + list(releases)) if v in releases}
                    releases = dict(list(releases.items())[:KEEP_RELEASES])
        members = []
        for d in devices:
            mine = desired.get(d.device_id)
            mine = mine if mine and mine.fleet == name else None
            reported = _reported_version(d, mine.version if mine else None, releases)
            if mine and mine.reached_at is None and reported == mine.version:
                self.store.mark_reached(d.device_id, now)
                mine = replace(mine, reached_at=now)
            members.append(Member(d.device_id, mine.version if mine else None, mine.assigned_at if mine else None,
                                  bool(mine and mine.reached_at), reported, d.healthy,
                                  d.reported.get("failedVersion")))
        decision = next_step(name, spec.rollout, replace(record, strategy=spec.rollout.model_dump(mode="json")),
                             members, desired_version, now, paused=spec.paused or record.paused)
        by_id = {d.device_id: d for d in devices}
        sent = 0
        with self.store.transaction():
            for note in decision.notes:
                self.store.emit("Fleet", name, note.reason, note.message, warning=note.warning, commit=revision)
            if decision.record.undo_requested is False and record.undo_requested:
                self.store.clear_undo(name)
            pending: list[tuple[str, DesiredState]] = []
            for a in decision.assignments:
                art = releases.get(a.version, {}).get(by_id[a.device_id].board)
                if art is None:
                    continue  # no artifact kept for that version and class: nothing sensible to send
                pending.append((a.device_id, self._install(name, node.model, a, Artifact.from_dict(art), spec, now)))
            if decision.assignments:
                counts = {}
                for a in decision.assignments:
                    counts[a.reason] = counts.get(a.reason, 0) + 1
                self.store.emit("Fleet", name, "InstallsSent", f"{len(pending)} install(s): " + ", ".join(
                    f"{n} {r}" for r, n in sorted(counts.items())), commit=revision)
            if decision.record != record or decision.notes:
                self.store.put_rollout(decision.record)
            p = decision.progress
            stalled = problem or (f"halted: {decision.record.failed_version} failed on "
                                  f"{len(decision.record.failures)} member(s)"
                                  if decision.record.phase == "halted" else None)
            message = (f"{p.updated}/{p.members} on {decision.record.target or '-'}"
                       + (f", {p.pending} updating" if p.pending else "")
                       + (f", {p.failed} failed" if p.failed else ""))
            detail = {"version": node.version, "target": decision.record.target, "phase": decision.record.phase,
                      "strategy_key": node.strategy_key, "releases": releases, "members": p.members,
                      "updated": p.updated, "pending": p.pending, "failed": p.failed, "waiting": p.waiting,
                      "conflicts": conflicts, "boards": boards, "paused": spec.paused or record.paused}
            reconciling = decision.record.phase == "progressing" or bool(p.pending)
            new = with_conditions(replace(old, observed_commit=revision, desired_key=node.version,
                                          last_error=problem, detail=detail), now,
                                  ready=(decision.ready and not problem, "Converged" if decision.ready else
                                         "RollingOut", message),
                                  reconciling=(reconciling, "RollingOut" if reconciling else "Idle", message),
                                  stalled=(bool(stalled), "Halted" if decision.record.phase == "halted" and
                                           not problem else "Blocked" if stalled else "Healthy", stalled or ""))
            if (new.conditions, new.detail, new.observed_commit, new.last_error, new.desired_key) != (
                    old.conditions, old.detail, old.observed_commit, old.last_error, old.desired_key):
                self.store.put_object(new)
        for device_id, desired_state in pending:  # sent only once recorded
            self.link.set_desired(device_id, desired_state)
            sent += 1
        return sent, new.is_true("Ready")

    def _install(self, fleet: str, model: str, a, art: Artifact, spec, now: float) -> DesiredState:
        generation = len(self.store.installs(a.device_id)) + 1
        manifest = Manifest(name=model, version=a.version, digest=art.digest, size=art.size, target=art.target,
                            createdAt=round(now, 3))
        desired = DesiredState(deviceId=a.device_id, generation=generation, artifact=self.signer.sign(manifest),
                               healthCheck=spec.healthCheck.probeInference, maxLatencyMs=spec.healthCheck.maxLatencyMs,
                               issuedAt=round(now, 3))
        self.store.record_install(InstallRecord(f"{a.device_id}:{generation}", a.device_id, fleet, a.version,
                                                art.digest, a.reason, now), desired.model_dump(mode="json"))
        return desired

    def _prune(self, graph: DesiredGraph) -> None:
        wanted = {("Dataset", n) for n in graph.datasets} | {("Model", n) for n in graph.models} | {
            ("Fleet", n) for n in graph.fleets}
        for obj in self.store.objects():
            if obj.kind in ("Dataset", "Model", "Fleet") and (obj.kind, obj.name) not in wanted:
                with self.store.transaction():
                    self.store.delete_object(obj.kind, obj.name)
                    self.store.emit(obj.kind, obj.name, "Removed", "no longer in the specs; devices keep what they run")

    # --- running --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, interval: float = 2.0, once: bool = False,
            until=None) -> PassResult:
        """Pass after pass until `stop` is set (or once, or until `until(result)` is true)."""
        kick = threading.Event()
        watcher = threading.Thread(target=self.source.watch, args=(kick.set, stop), daemon=True)
        if not once:
            watcher.start()
            if hasattr(self.link, "on_activity"):  # a device report wakes the loop at once
                self.link.on_activity(kick.set)
        if hasattr(self.link, "settle"):  # decide on the devices that exist (retained hellos), not on none
            self.link.settle()
        while True:
            result = self.reconcile_once()
            if once or stop.is_set() or (until and until(result)):
                return result
            kick.wait(interval)
            kick.clear()


def _reported_version(device, assigned: str | None, releases: dict[str, dict[str, dict]]) -> str | None:
    """The version a device runs, read from the digest it reports: a new fleet version whose
    artifact for this class is byte-identical to the old one needs no install, and the device
    (which still names the old version) already runs it."""
    digest = (device.reported or {}).get("modelDigest")
    if digest and assigned and releases.get(assigned, {}).get(device.board, {}).get("digest") == digest:
        return assigned
    return device.reported_version


def _root_of(source) -> Path:
    """Where a source's files live on disk: a git clone's path inside it, or the local directory."""
    if hasattr(source, "workdir"):
        return Path(source.workdir) / source.path
    return Path(source.path)
