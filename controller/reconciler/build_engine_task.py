"""What a build engine's worker (a Dask worker) runs for one model build, submitted by
`controller.reconciler.build_engine_dask`.

The task is the controller's own build, moved to another host and nothing more: it starts the same
build worker process (`controller.reconciler.build_worker`) with the same limits (wall time
`maxBuildSeconds`, RLIMIT_CPU/DATA/FSIZE computed for *this* host's CPUs) and, where this host has
user namespaces, the same sandbox (the state directory hidden, the revision read-only, the artifact
store read-write). The job names paths, not contents: the revision and the artifact store are read
and written where the controller sees them, so the state directory must be one shared filesystem
mounted at the same path on the controller and on every worker (as controller replicas already share
it). No signing key, state database, operator token or broker password is in the task.

Progress lines go back to the controller as Dask events (topic `PROGRESS_TOPIC`); the controller
cancels a running task by setting the Dask `Event` named `cancel_event(key)`, which kills the
build worker's process group (Dask itself cannot stop a running task).
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from controller.limits import Limits
from controller.reconciler.sandbox import SandboxedBuilder
from controller.reconciler.sandbox import Worker
from controller.reconciler.sandbox import rlimits
from controller.reconciler.sandbox import run_worker
from specs.errors import BuildEngineError

PROGRESS_TOPIC = "origami-build-progress"
CANCEL_POLL_S = 1.0  # how soon a cancelled build's worker is killed


def cancel_event(key: str) -> str:
    return f"{key}-cancel"


def distributed_module() -> Any:
    """Dask distributed, as Any (its API is untyped), imported only where a build engine is used: it
    is an optional extra. BuildEngineError when it is not installed."""
    try:
        import distributed
    except ImportError:
        raise BuildEngineError("--build-engine needs Dask distributed on the controller and its workers: "
                               "pip install 'origami[cluster]'") from None
    return distributed


def missing_paths(job: dict[str, Any]) -> str | None:
    """Why this host cannot run the job (a path the controller names is not here), or None."""
    for what, path in (("revision", job["revision"]), ("artifact store", job["artifacts"])):
        if not os.path.isdir(path):
            return (f"Model {job['model']}: the {what} {path} is not on the build engine's worker "
                    f"{socket.gethostname()}; the workers must see the controller's state directory at the same "
                    "path (a shared filesystem, docs/scale.md \"Build engine\")")
    return None


class CancelWatch:
    """Kills the build worker when the controller sets the job's cancel event."""

    def __init__(self, key: str) -> None:
        # The worker's client is found in the task's thread only: the watch thread gets it from here.
        distributed = distributed_module()
        self.event = distributed.Event(cancel_event(key), client=distributed.get_client())
        self.done = threading.Event()
        self.cancelled = False

    def started(self, worker: Worker) -> None:
        threading.Thread(target=self._watch, args=(worker,), daemon=True, name="build-cancel").start()

    def _watch(self, worker: Worker) -> None:
        while not self.done.is_set():
            try:
                if self.event.wait(timeout=CANCEL_POLL_S):
                    self.cancelled = True
                    worker.kill()
                    self.event.clear()  # a set event stays on the scheduler until cleared
                    return
            except Exception:  # the scheduler went away: nobody waits for this build any more
                return


def run_build_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one model build on this host; the stages that ran and where it ran. Raises StageError
    (BudgetError for a limit) exactly as a build on the controller's host does."""
    job, key = task["job"], task["key"]
    why = missing_paths(job)
    if why is not None:
        raise BuildEngineError(why)
    dask_worker = distributed_module().get_worker()
    limits = Limits(**job["limits"])
    builder = SandboxedBuilder(task["state_dir"], allow_repo_code=task["repo_code"], limits=limits,
                               network=task["network"], isolate=task["isolate"])
    view = builder.view_of(Path(job["revision"]), task["entry_point"])  # this host's namespaces decide
    job = {**job, "rlimits": rlimits(limits), "view": view.to_dict() if view is not None else None}

    def say(line: str) -> None:
        dask_worker.log_event(PROGRESS_TOPIC, {"key": key, "line": line})

    watch = CancelWatch(key)
    try:
        executions = run_worker(builder.command(view), job, limits, say, started=watch.started)
    except Exception:
        if watch.cancelled:
            raise BuildEngineError(f"Model {job['model']}: the build was cancelled (the controller stopped)") from None
        raise
    finally:
        watch.done.set()
    return {"executions": executions, "worker": dask_worker.address, "host": socket.gethostname(),
            "sandboxed": view is not None}
