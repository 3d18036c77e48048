"""The loop's build phase for datasets and models: a model whose stages are all in the store is read
back from its records (figures, gates); otherwise its build is *submitted* to the build queue and
the model is Reconciling until the job ends. A failed build is retried with back-off, except one a
limit stopped (maxBuildSeconds, maxBuildMemoryBytes): that one waits for new inputs (or a restart of
the controller, e.g. with raised limits) instead of taking the build queue for as long again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from controller.loading import SpecRepository
from controller.planning.plan import Plan
from controller.reconciler.backoff import next_attempt
from controller.reconciler.build_progress import BuildProgress
from controller.reconciler.build_progress import Timing
from controller.reconciler.build_queue import BuildQueue
from controller.reconciler.build_queue import Job
from controller.reconciler.conditions import with_conditions
from controller.reconciler.ports import Builder
from controller.reconciler.ports import ModelOutcome
from controller.reconciler.ports import Progress
from controller.state import ObjectStatus
from controller.state import StateStore
from specs.v1alpha1.status import DatasetStatus
from specs.v1alpha1.status import ModelStatus
from specs.v1alpha1.status import VariantFigures


class ModelPhase:
    def __init__(self, store: StateStore, builder: Builder, queue: BuildQueue, progress: Progress,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.builder = builder
        self.queue = queue
        self.progress = progress
        self.clock = clock
        self.revisions: dict[str, str] = {}  # job key -> revision its build reads (kept materialized)
        self.over_budget: dict[str, str] = {}  # model -> cards key whose build a limit stopped (this process)
        self.claim: Callable[[str], bool] = lambda key: True  # replicas: a build runs where its lease is held
        self._timings: list[Timing] = []

    def on_timing(self, hook: Timing) -> None:
        """Call `hook(what, seconds, ok)` when a build ends ("build") and when its training ends ("train")."""
        self._timings.append(hook)

    def _timing(self, what: str, seconds: float, ok: bool) -> None:
        for hook in self._timings:
            hook(what, seconds, ok)

    def apply(self, repo: SpecRepository, plan: Plan, revision: str) -> dict[str, ModelOutcome]:
        """Each model's outcome when built; submits the builds that must run. Builds run counted in
        `self.started`."""
        self.started = 0
        outcomes = {}
        for name in plan.graph.models:
            outcome = self._model(repo, plan, name, revision)
            if outcome is not None:
                outcomes[name] = outcome
        self._datasets(repo, plan, outcomes, revision)
        return outcomes

    def _model(self, repo: SpecRepository, plan: Plan, name: str, revision: str) -> ModelOutcome | None:
        keys = plan.graph.models[name]
        now = self.clock()
        old = self.store.object("Model", name) or ObjectStatus("Model", name)
        outcome = self.builder.model(repo, name, keys)
        if outcome is not None:
            self._built(old, name, keys, outcome, revision, now)
            return outcome
        job = self.queue.state(keys.cards)
        if job is not None and job.status == "failed":
            self._failed(old, name, keys.cards, job.error or "build failed", revision, now, retry=job.retry)
            self.queue.forget(keys.cards)
            return None
        if job is not None and job.status in ("queued", "running"):
            self.claim(keys.cards)  # renew: the build is still ours while it runs
            self._put(old, with_conditions(replace(old, observed_commit=revision), now,
                                           ready=(False, "Building", ""),
                                           reconciling=(True, "Building", f"{job.status}: {keys.cards[:12]}")))
            return None
        if self.over_budget.get(name) == keys.cards:
            return None  # Stalled BuildFailed until the inputs change
        if old.failures and old.model.failed_key == keys.cards and now < old.next_attempt:
            return None  # back-off: Stalled BuildFailed until the next attempt
        if not self.claim(keys.cards):  # another replica builds it: read back once it is in the store
            self._put(old, with_conditions(replace(old, observed_commit=revision), now,
                                           ready=(False, "Building", ""),
                                           reconciling=(True, "BuildingElsewhere", f"another replica builds "
                                                                                   f"{keys.cards[:12]}")))
            return None
        work = ", ".join(f"{a.kind} {a.target}" for a in plan.builds(name)) or "read back"
        self.store.emit("Model", name, "BuildStarted", f"building {name} ({keys.cards[:12]}): {work}",
                        commit=revision)
        self._put(old, with_conditions(replace(old, observed_commit=revision), now, ready=(False, "Building", ""),
                                       reconciling=(True, "Building", f"queued: {keys.cards[:12]}")))
        self.revisions[keys.cards] = revision
        self.started += 1
        progress = BuildProgress(self.store, keys.cards, f"Model/{name}", self.progress, self.clock, self._timing)
        self.queue.submit(Job(keys.cards, f"Model/{name}",
                              lambda: progress.run(lambda: self.builder.build_model(repo, name, keys, progress))))
        if self.queue.workers == 0:  # inline: the build is done (or failed) already
            return self._model_after_inline(repo, plan, name, revision)
        return None

    def _model_after_inline(self, repo: SpecRepository, plan: Plan, name: str, revision: str) -> ModelOutcome | None:
        keys = plan.graph.models[name]
        old = self.store.object("Model", name) or ObjectStatus("Model", name)
        outcome = self.builder.model(repo, name, keys)
        now = self.clock()
        if outcome is not None:
            self.queue.forget(keys.cards)
            self._built(old, name, keys, outcome, revision, now)
            return outcome
        job = self.queue.state(keys.cards)
        self._failed(old, name, keys.cards, (job.error if job else None) or "build failed", revision, now,
                     retry=job.retry if job else True)
        self.queue.forget(keys.cards)
        return None

    def _built(self, old: ObjectStatus, name: str, keys: Any, outcome: ModelOutcome, revision: str,
               now: float) -> None:
        passed = [v for v, f in outcome.variants.items() if f.get("passed")]
        message = f"{len(passed)}/{len(outcome.variants)} variant(s) pass the gates"
        detail = ModelStatus(built=True, keys=keys.all(), dataset=outcome.dataset_digest,
                             variants={n: VariantFigures.model_validate(v) for n, v in outcome.variants.items()})
        new = with_conditions(replace(old, observed_commit=revision, desired_key=keys.cards, last_error=None,
                                      failures=0, next_attempt=0, detail=detail), now,
                              ready=(bool(passed), "Built" if passed else "GatesFailed", message),
                              stalled=(not passed, "GatesFailed", "" if passed else message))
        if old.desired_key != keys.cards or new.conditions != old.conditions or old.detail != detail:
            with self.store.transaction():
                self._put(old, new)
                if old.desired_key != keys.cards:
                    self.store.emit("Model", name, "Built" if passed else "GatesFailed", message,
                                    warning=not passed, commit=revision)
        elif old.observed_commit != revision:
            self._put(old, replace(old, observed_commit=revision))
        self.queue.forget(keys.cards)
        self.revisions.pop(keys.cards, None)

    def _failed(self, old: ObjectStatus, name: str, key: str, error: str, revision: str, now: float, *,
                retry: bool = True) -> None:
        failures = old.failures + 1 if old.model.failed_key == key else 1
        again = next_attempt(failures, now)
        if not retry:
            self.over_budget[name] = key
        when = f"retry in {again - now:.0f}s" if retry else "not retried until its inputs change"
        with self.store.transaction():
            self._put(old, with_conditions(
                replace(old, observed_commit=revision, last_error=error, failures=failures, next_attempt=again,
                        detail=old.model.model_copy(update={"failed_key": key})), now,
                ready=(False, "BuildFailed", error), stalled=(True, "BuildFailed", error)))
            self.store.emit("Model", name, "BuildFailed", f"{error} ({when})", warning=True,
                            commit=revision)
        self.revisions.pop(key, None)

    def _datasets(self, repo: SpecRepository, plan: Plan, outcomes: dict[str, ModelOutcome], revision: str) -> None:
        now = self.clock()
        for name, key in plan.graph.datasets.items():
            old = self.store.object("Dataset", name) or ObjectStatus("Dataset", name)
            users = [m for m, spec in repo.models.items() if spec.spec.dataset == name]
            built = [outcomes[m].dataset_digest for m in users if m in outcomes]
            digest = next((d for d in built if d), old.dataset.snapshot if old.desired_key == key else None)
            ready = not users or bool(digest)
            new = with_conditions(replace(old, observed_commit=revision, desired_key=key if ready else
                                          old.desired_key, detail=DatasetStatus(snapshot=digest, models=users)), now,
                                  ready=(ready, "Snapshotted" if users else "Unused", digest or ""),
                                  reconciling=(not ready, "Snapshotting", ""))
            self._put(old, new)

    def _put(self, old: ObjectStatus, new: ObjectStatus) -> None:
        if (new.conditions, new.desired_key, new.detail, new.observed_commit, new.last_error) != (
                old.conditions, old.desired_key, old.detail, old.observed_commit, old.last_error):
            self.store.put_object(new)
