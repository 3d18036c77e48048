"""Builds run here, outside the reconcile loop's thread, so that a long training never blocks a
rollout: the loop *submits* a build job (keyed by the stage key it produces), keeps passing, and
reads the result back from the stage cache once the job is done.

`workers=0` runs each job inline when it is submitted (`origami reconcile --once`, unit tests):
the pass then includes its builds.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from specs.errors import BudgetError
from specs.errors import OrigamiError
from wire.logs import get_logger

log = get_logger("reconciler.builds")


@dataclass
class Job:
    key: str  # the stage key the job produces: a model's cards key, a bundle key
    target: str  # Model/x or Fleet/f@board, for logs and status
    run: Callable[[], Any]


@dataclass
class JobState:
    target: str
    status: str = "queued"  # queued | running | done | failed
    error: str | None = None
    retry: bool = True  # False when a limit stopped it: the same inputs would hit the limit again
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None


class BuildQueue:
    def __init__(self, workers: int = 1, *, on_finished: Callable[[], None] | None = None) -> None:
        self.workers = workers
        self._on_finished = [on_finished] if on_finished else []
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._states: dict[str, JobState] = {}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"build-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def on_finished(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each job ends (the loop wakes to record it)."""
        self._on_finished.append(callback)

    def submit(self, job: Job) -> JobState:
        """Queue a job unless one with the same key is queued or running; its state."""
        with self._lock:
            state = self._states.get(job.key)
            if state is not None and state.status in ("queued", "running"):
                return state
            state = self._states[job.key] = JobState(job.target)
        if self.workers == 0:
            self._execute(job, state)
        else:
            self._jobs.put(job)
        return state

    def state(self, key: str) -> JobState | None:
        with self._lock:
            return self._states.get(key)

    def busy(self) -> list[JobState]:
        with self._lock:
            return [s for s in self._states.values() if s.status in ("queued", "running")]

    def forget(self, key: str) -> None:
        """Drop a finished job's state once the loop has recorded its outcome."""
        with self._lock:
            state = self._states.get(key)
            if state is not None and state.status in ("done", "failed"):
                del self._states[key]

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                state = self._states[job.key]
            self._execute(job, state)

    def _execute(self, job: Job, state: JobState) -> None:
        state.status, state.started_at = "running", time.time()
        log.info("build started", extra={"target": job.target, "key": job.key[:12]})
        try:
            job.run()
            state.status = "done"
        except Exception as err:  # one broken build must not stop the others: the loop records why
            if not isinstance(err, OrigamiError):
                log.error("build crashed", exc_info=True, extra={"target": job.target})
            state.status = "failed"
            state.retry = not isinstance(err, BudgetError)
            state.error = str(err) if isinstance(err, OrigamiError) else \
                f"build crashed: {type(err).__name__}: {str(err)[:300]}"
        state.finished_at = time.time()
        log.info("build finished", extra={"target": job.target, "status": state.status,
                                          "seconds": round(state.finished_at - state.started_at, 1)})
        for callback in self._on_finished:
            callback()
