"""The loop's rollout phase for one fleet, in named steps:

1. *release*: the artifact of every device class of the fleet's release, read back from the bundle
   stage (or its build submitted to the build queue);
2. *members*: each member as the rollout sees it — what it was assigned and what it proves to run
   (the assigned digest, at the assigned generation, with a passing health check);
3. *decision*: the rollout's next step (`controller.reconciler.rollout`, pure);
4. *record and send*: installs are recorded with the decision before any desired state is sent;
5. *status*: the fleet's conditions and counts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from controller.loading import SpecRepository
from controller.planning.keys import FleetKeys
from controller.planning.plan import Plan
from controller.reconciler.backoff import next_attempt
from controller.reconciler.build_queue import BuildQueue
from controller.reconciler.build_queue import Job
from controller.reconciler.conditions import Conditions
from controller.reconciler.conditions import apply as apply_conditions
from controller.reconciler.conditions import counts
from controller.reconciler.convergence import Member
from controller.reconciler.ports import Artifact
from controller.reconciler.ports import Builder
from controller.reconciler.ports import DeviceLink
from controller.reconciler.ports import ModelOutcome
from controller.reconciler.ports import Progress
from controller.reconciler.ports import Signer
from controller.reconciler.rollout import next_step
from controller.state import DesiredRecord
from controller.state import DeviceRecord
from controller.state import InstallRecord
from controller.state import ObjectStatus
from controller.state import RolloutRecord
from controller.state import StateStore
from controller.store.publish import ArtifactPublisher
from specs.v1alpha1.fleet import FleetSpec
from specs.v1alpha1.fleet import Rollout
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.status import BundleFailure
from specs.v1alpha1.status import FleetStatus

KEEP_RELEASES = 4  # releases whose artifacts a fleet keeps (current, last good, a few before)


@dataclass
class Release:
    """The artifacts of one fleet version, per device class, and why it is not complete yet."""

    version: str
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # board -> Artifact.to_dict()
    waiting: list[str] = field(default_factory=list)  # boards whose bundle is building
    problems: list[str] = field(default_factory=list)  # boards whose bundle cannot be built, and why

    @property
    def complete(self) -> bool:
        return not self.waiting and not self.problems


@dataclass
class FleetPhase:
    """Per fleet and pass: release artifacts, members, the rollout's next step, installs recorded then
    sent, status."""

    store: StateStore
    builder: Builder
    link: DeviceLink
    signer: Signer
    queue: BuildQueue
    progress: Progress
    clock: Callable[[], float]
    online_timeout: float
    _desired: dict[str, DesiredRecord] | None = None  # read once per pass (1,000 payloads)
    revisions: dict[str, str] = field(default_factory=dict)  # bundle job key -> revision it reads
    holds: Callable[[str], bool] = field(default=lambda fleet: True)  # replicas: the fleet's lease is still ours
    publisher: ArtifactPublisher | None = None  # artifacts also served over HTTP: desired states name the URL
    served_since: Callable[[str], float | None] = field(default=lambda fleet: None)  # replicas: when we took it

    # --- 1. release ---------------------------------------------------------------------------
    def release(self, repo: SpecRepository, name: str, keys: FleetKeys, outcome: ModelOutcome | None,
                revision: str) -> Release:
        release = Release(keys.version)
        for board, key in keys.bundles.items():
            artifact = self.builder.bundle(key)
            if artifact is not None:
                release.artifacts[board] = artifact.to_dict()
                self.queue.forget(key)
                self.revisions.pop(key, None)
                continue
            if outcome is None:
                release.waiting.append(board)
                continue
            job = self.queue.state(key)
            if job is not None and job.status == "failed":
                self._bundle_failed(name, board, key, job.error or "bundle failed", revision)
                self.queue.forget(key)
                release.problems.append(f"{board}: {job.error}")
                continue
            if job is not None:
                release.waiting.append(board)
                continue
            failure = self._bundle_failure(name, board, key)
            if failure is not None:
                release.problems.append(f"{board}: {failure}")
                continue
            self.revisions[key] = revision
            self.queue.submit(Job(key, f"Fleet/{name}@{board}", self._bundle_job(repo, name, board, key, outcome)))
            artifact = self.builder.bundle(key) if self.queue.workers == 0 else None
            if artifact is not None:
                release.artifacts[board] = artifact.to_dict()
                self.queue.forget(key)
            elif self.queue.workers == 0:
                job = self.queue.state(key)
                error = (job.error if job else None) or "bundle failed"
                self._bundle_failed(name, board, key, error, revision)
                self.queue.forget(key)
                release.problems.append(f"{board}: {error}")
            else:
                release.waiting.append(board)
        return release

    def _bundle_job(self, repo: SpecRepository, fleet: str, board: str, key: str,
                    outcome: ModelOutcome) -> Callable[[], Artifact]:
        say = self.progress
        return lambda: self.builder.build_bundle(repo, fleet, board, key, outcome,
                                                 lambda what, f: say(f"Fleet/{fleet}@{board}: {what}", f))

    def _bundle_failure(self, fleet: str, board: str, key: str) -> str | None:
        """The recorded failure of this bundle while its back-off lasts, else None."""
        old = self.store.object("Fleet", fleet)
        failed = old.fleet.bundle_failures.get(key) if old else None
        if failed and self.clock() < failed.next_attempt:
            return failed.error
        return None

    def _bundle_failed(self, fleet: str, board: str, key: str, error: str, revision: str) -> None:
        now = self.clock()
        old = self.store.object("Fleet", fleet) or ObjectStatus("Fleet", fleet)
        failures = dict(old.fleet.bundle_failures)
        count = failures[key].count + 1 if key in failures else 1
        failures[key] = BundleFailure(board=board, error=error, count=count, next_attempt=next_attempt(count, now))
        with self.store.transaction():
            self.store.put_object(replace(old, detail=old.fleet.model_copy(update={"bundle_failures": failures})))
            self.store.emit("Fleet", fleet, "BundleFailed", f"{board}: {error}", warning=True, commit=revision)

    # --- 2. members ---------------------------------------------------------------------------
    def members(self, name: str, devices: list[DeviceRecord], desired: dict[str, DesiredRecord],
                now: float) -> list[Member]:
        """Each member as the rollout sees it. A failure the device itself reports (install refused,
        health check failed) is recorded durably, but only when it is about the assignment in force
        (its generation), so an old report cannot fail a version again after a retry."""
        failed = self.store.failed_versions(name)
        served = self.served_since(name)
        out = []
        for d in devices:
            mine = desired.get(d.device_id)
            mine = mine if mine and mine.fleet == name else None
            rep = d.reported or {}
            payload = (mine.payload or {}) if mine else {}
            generation = payload.get("generation")
            versions = failed.get(d.device_id, frozenset())
            last = rep.get("lastUpdate") or {}
            reported_failure = (mine is not None and generation is not None and mine.version not in versions
                                and last.get("outcome") in ("rejected", "rolled-back", "failed")
                                and last.get("version") == mine.version and last.get("digest") == _digest(payload)
                                and rep.get("observedGeneration", -1) >= generation)
            if reported_failure and mine is not None:
                self.store.record_failure(d.device_id, name, mine.version, str(last.get("reason", ""))[:300], now)
                versions = versions | {mine.version}
            out.append(Member(
                d.device_id, d.board, self.online(d, now), str(rep.get("health", "unknown")),
                str(rep.get("healthReason", "")), mine.version if mine else None, generation,
                _digest(payload) if mine else None, mine.assigned_at if mine else None,
                mine.reached_at if mine else None, rep.get("modelDigest"), rep.get("observedGeneration"),
                versions, d.online_since, d.last_seen, served))
        return out

    def online(self, device: DeviceRecord, now: float) -> bool:
        """Online is presence plus a recent message: a device that only said hello goes offline."""
        return device.online and now - device.last_seen <= self.online_timeout

    # --- 3-5. decision, record and send, status -----------------------------------------------
    def begin_pass(self) -> None:
        """Forget what was read in the last pass (operators and other processes write the store too)."""
        self._desired = None

    def apply(self, repo: SpecRepository, plan: Plan, name: str, outcome: ModelOutcome | None,
              revision: str) -> tuple[int, bool]:
        keys = plan.graph.fleets[name]
        spec = repo.fleets[name].spec
        now = self.clock()
        old = self.store.object("Fleet", name) or ObjectStatus("Fleet", name)
        record = self.store.rollout(name) or RolloutRecord(name)
        devices = plan.members[name]
        release = self.release(repo, name, keys, outcome, revision)
        releases: dict[str, dict[str, dict[str, Any]]] = dict(old.fleet.releases)
        desired_version = None
        if release.complete:
            releases[keys.version] = release.artifacts
            desired_version = keys.version
            keep = [v for v in (keys.version, record.target, record.last_good, record.previous_good,
                                record.failed_version) if v]
            releases = {v: releases[v] for v in dict.fromkeys(keep + list(releases)) if v in releases}
            releases = dict(list(releases.items())[:KEEP_RELEASES])
        problem = "; ".join(release.problems) or None
        model_failed = self._model_failure(keys.model) if outcome is None else None
        if self._desired is None:
            self._desired = self.store.desired()
        desired = self._desired
        members = self.members(name, devices, desired, now)
        rollout = _link_aware(spec, releases)
        decision = next_step(name, rollout, replace(record, strategy=spec.rollout.model_dump(mode="json")),
                             members, desired_version, _digest_of(releases), now,
                             paused=spec.paused or record.paused)
        by_id = {d.device_id: d for d in devices}
        pending: list[tuple[str, DesiredState]] = []
        with self.store.transaction():
            if not self.holds(name):  # another replica took the fleet over since this pass claimed it
                return 0, False
            for note in decision.notes:
                self.store.emit("Fleet", name, note.reason, note.message, warning=note.warning, commit=revision)
            for failure in decision.failures:
                self.store.record_failure(failure.device_id, name, failure.version, failure.reason, now)
            if decision.forget_failures:
                self.store.forget_failures(name, decision.forget_failures)
            if record.undo_requested and not decision.record.undo_requested:
                self.store.clear_undo(name)
            if record.retry_requested and not decision.record.retry_requested:
                self.store.clear_retry(name)
            for device_id, status in decision.members.items():
                mine = desired.get(device_id)
                if status.updated and mine is not None and mine.reached_at is None and mine.fleet == name:
                    self.store.mark_reached(device_id, now)
            for a in decision.assignments:
                board = by_id[a.device_id].board
                art = releases.get(a.version, {}).get(board or "")
                if art is None or board is None:
                    continue  # no artifact kept for that version and class: nothing sensible to send
                pending.append((a.device_id, self._install(name, keys.model, a, board, Artifact.from_dict(art),
                                                           spec, now)))
            if decision.assignments:
                counts: dict[str, int] = {}
                for a in decision.assignments:
                    counts[a.reason] = counts.get(a.reason, 0) + 1
                self.store.emit("Fleet", name, "InstallsSent", f"{len(pending)} install(s): " + ", ".join(
                    f"{n} {r}" for r, n in sorted(counts.items())), commit=revision)
            if decision.record != record or decision.notes:
                self.store.put_rollout(decision.record)
            new = self._status(old, keys, decision, release, releases, plan.conflicts.get(name, []), devices,
                               problem or model_failed, spec.paused or record.paused, revision, now)
            new.fleet.labels = dict(repo.fleets[name].metadata.labels)  # for `origami get fleets -l KEY=VALUE`
            if (new.conditions, new.detail, new.observed_commit, new.last_error, new.desired_key) != (
                    old.conditions, old.detail, old.observed_commit, old.last_error, old.desired_key):
                self.store.put_object(new)
        if pending:
            self._desired = None  # installs recorded: the next fleet reads them back
        for device_id, desired_state in pending:  # sent only once recorded
            self.link.set_desired(device_id, desired_state)
        return len(pending), new.is_true("Ready")

    def _model_failure(self, model: str) -> str | None:
        """Why the fleet's model cannot be built now (it failed and waits for its retry), or None."""
        status = self.store.object("Model", model)
        if status is not None and status.is_true("Stalled"):
            return f"Model/{model}: {status.last_error or status.conditions['Stalled'].message}"
        return None

    def _status(self, old: ObjectStatus, keys: FleetKeys, decision: Any, release: Release,
                releases: dict[str, Any], conflicts: list[str], devices: list[DeviceRecord], problem: str | None,
                paused: bool, revision: str, now: float) -> ObjectStatus:
        p = decision.progress
        detail = FleetStatus(
            **p.model_dump(), version=keys.version, target=decision.record.target, phase=decision.record.phase,
            strategy_key=keys.strategy, bundles=keys.bundles, releases=releases, conflicts=conflicts,
            boards=sorted({d.board for d in devices if d.board}), paused=paused,
            bundle_failures=old.fleet.bundle_failures,
            reasons={i: s.reason for i, s in decision.members.items() if s.reason},
            states={i: s.state for i, s in decision.members.items()})
        conditions = decision.conditions
        if problem:  # the desired version cannot be built: nothing the rollout can do about it
            conditions = Conditions.stalled_("BuildFailed", problem)
        elif release.waiting and decision.record.phase != "halted":
            conditions = Conditions.reconciling_(
                "AwaitingArtifacts", f"building artifacts for {', '.join(release.waiting)}; "
                                     f"{counts(p, decision.record.target or keys.version)}")
        return apply_conditions(replace(old, observed_commit=revision, desired_key=keys.version,
                                        last_error=problem, detail=detail), now, conditions)

    def _install(self, fleet: str, model: str, a: Any, board: str, art: Artifact, spec: Any,
                 now: float) -> DesiredState:
        """Record the install and the desired state naming it, signed as a whole with a sequence
        allocated in the same transaction: a kill leaves both or neither, and never a reused sequence."""
        url = self.publisher.publish(art.digest) if self.publisher else None
        with self.store.transaction():
            generation = len(self.store.installs(a.device_id)) + 1
            manifest = Manifest(name=model, version=a.version, digest=art.digest, size=art.size, target=art.target,
                                createdAt=round(now, 3))
            desired = self.signer.sign_desired(DesiredState(
                deviceId=a.device_id, board=board, fleet=fleet, generation=generation,
                sequence=self.store.allocate_sequence(now), artifact=self.signer.sign(manifest), artifactUrl=url,
                healthCheck=spec.healthCheck.probeInference, maxLatencyMs=spec.healthCheck.maxLatencyMs,
                issuedAt=round(now, 3)))
            self.store.record_install(InstallRecord(f"{a.device_id}:{generation}", a.device_id, fleet, a.version,
                                                    art.digest, a.reason, now), desired.model_dump(mode="json"))
        return desired


def _digest(payload: dict[str, Any]) -> str | None:
    """The artifact digest a recorded desired state names."""
    artifact = payload.get("artifact") or {}
    manifest = artifact.get("manifest") or {}
    return manifest.get("digest")


def _link_aware(spec: FleetSpec, releases: dict[str, dict[str, dict[str, Any]]]) -> Rollout:
    """The Fleet's rollout with deviceTimeoutSeconds long enough for its largest kept artifact over
    its `link` (a slow link such as BLE); unchanged when the configured timeout already covers it."""
    from controller.split.cost import link_from_spec
    from controller.split.cost import rollout_timeout

    largest = max((int(a.get("size", 0)) for arts in releases.values() for a in arts.values()), default=0)
    timeout = rollout_timeout(spec.rollout.deviceTimeoutSeconds, largest, link_from_spec(spec.link))
    if timeout == spec.rollout.deviceTimeoutSeconds:
        return spec.rollout
    return spec.rollout.model_copy(update={"deviceTimeoutSeconds": timeout})


def _digest_of(releases: dict[str, dict[str, dict[str, Any]]]) -> Callable[[str, str | None], str | None]:
    return lambda version, board: releases.get(version, {}).get(board or "", {}).get("digest")
