"""Model builds as jobs on a Dask distributed cluster (`origami reconcile --build-engine tcp://HOST:PORT`).

Why Dask and not Ray: Dask distributed is pure-Python wheels (a few MiB over what Origami already
installs), its scheduler and workers are two plain commands, and a test starts a `LocalCluster` on
loopback in about a second; Ray brings hundreds of MiB of native wheels and a daemon stack (GCS,
raylet, dashboard) for features a build job does not use.

The controller keeps everything it owns: planning, the build queue, leases, reading the result back
from the stage cache. Only the build worker's run moves: `DaskBuilder.execute` submits
`build_engine_task.run_build_task` and waits for it, where `SandboxedBuilder.execute` starts the
worker here. The build queue's threads still bound how many builds this controller has out at once
(`--build-workers`); a Dask worker with `--nthreads N` runs up to N of them.

Failures are explicit (`BuildEngineError`, a `StageError`: the model's condition says it, the build
is retried with back-off): the scheduler unreachable, the job lost (a worker died), a worker that
does not see the state directory, no result within maxBuildSeconds plus `START_GRACE_S`. A build's
own errors (a limit, a bad dataset) come back as the same `StageError`/`BudgetError` a local build raises.
"""
from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from controller.loading import SpecRepository
from controller.reconciler.build_engine_task import PROGRESS_TOPIC
from controller.reconciler.build_engine_task import cancel_event
from controller.reconciler.build_engine_task import distributed_module
from controller.reconciler.build_engine_task import run_build_task
from controller.reconciler.sandbox import SandboxedBuilder
from controller.reconciler.sandbox import entry_point_of
from specs.errors import BuildEngineError
from specs.errors import OrigamiError
from specs.errors import UsageError
from wire.logs import Say
from wire.logs import get_logger

log = get_logger("reconciler.build_engine")

SCHEMES = ("tcp://", "tls://")
CONNECT_S = 10.0  # a scheduler that does not answer in this long is down, not slow
START_GRACE_S = 60.0  # beyond maxBuildSeconds: the job waiting for a free worker, TensorFlow's import


def check_address(address: str) -> str:
    """A scheduler address as `--build-engine` takes it, or UsageError."""
    if not address.startswith(SCHEMES) or ":" not in address.split("://", 1)[1]:
        raise UsageError(f"--build-engine takes a Dask scheduler address, tcp://HOST:PORT or tls://HOST:PORT "
                         f"(got {address!r})")
    return address


class DaskEngine:
    """One client of a Dask scheduler, connected at the first build (and again after a lost
    connection), so that a scheduler down at start only fails the builds, not the controller."""

    def __init__(self, address: str, *, connect_timeout: float = CONNECT_S,
                 start_grace: float = START_GRACE_S) -> None:
        self.address = check_address(address)
        self.connect_timeout = connect_timeout
        self.start_grace = start_grace
        self._client: Any = None
        self._lock = threading.Lock()
        self._running: dict[str, Any] = {}  # job key -> Future
        self._says: dict[str, Say] = {}
        self._closed = False
        self.last_run: dict[str, Any] = {}  # the last job's placement: worker address, host, sandboxed

    def client(self) -> Any:
        with self._lock:
            if self._closed:
                raise BuildEngineError("the controller is stopping: no new build is sent to the build engine")
            if self._client is not None and self._client.status == "running":
                return self._client
            if self._client is not None:  # lost (the scheduler restarted, the network broke): start afresh
                self._forget(self._client)
                self._client = None
            distributed = distributed_module()
            try:
                client = distributed.Client(self.address, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise BuildEngineError(
                    f"the build engine {self.address} could not be reached within {self.connect_timeout:.0f} s "
                    f"({type(err).__name__}); start its scheduler and workers (`dask scheduler`, `dask worker "
                    f"{self.address}`), or drop --build-engine to build on this host") from None
            client.subscribe_topic(PROGRESS_TOPIC, self._progress)
            log.info("connected to the build engine", extra={"address": self.address})
            self._client = client
            return client

    def _progress(self, event: tuple[float, Any]) -> None:
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else None
        if isinstance(message, dict):
            say = self._says.get(str(message.get("key")))
            if say is not None:
                say(str(message.get("line", ""))[:200])

    def run(self, task: dict[str, Any], model: str, max_build_seconds: int, say: Say) -> dict[str, int]:
        """Run `task` (see `build_engine_task`) on a worker; the stages that ran."""
        client = self.client()
        key = f"origami-build-{model}-{uuid.uuid4().hex[:12]}"
        wait_s = max_build_seconds + self.start_grace
        self._says[key] = say
        future = client.submit(run_build_task, {**task, "key": key}, key=key, pure=False)
        self._running[key] = future
        try:
            result = future.result(timeout=wait_s)
        except OrigamiError:
            raise  # the build's own error, raised on the worker: the same as on this host
        except TimeoutError:
            self._cancel(client, key, future)
            raise BuildEngineError(f"Model {model}: the build engine {self.address} returned no result within "
                                   f"{wait_s:,.0f} s (maxBuildSeconds + {self.start_grace:.0f} s to start); the job "
                                   "was cancelled; check that its workers are running and not all busy") from None
        except Exception as err:  # CancelledError, KilledWorker, a lost connection, code missing on the worker
            if self._closed:
                raise BuildEngineError(f"Model {model}: the build was cancelled (the controller stopped)") from None
            raise BuildEngineError(f"Model {model}: the build job failed on the build engine {self.address} "
                                   f"({type(err).__name__}: {str(err)[:300]}); its workers need this version of "
                                   "Origami installed and the state directory at the same path") from None
        finally:
            self._running.pop(key, None)
            self._says.pop(key, None)
        self.last_run = {k: result.get(k) for k in ("worker", "host", "sandboxed")}
        log.info("build ran on the build engine", extra={"model": model, **self.last_run})
        executions = result.get("executions")
        return {str(k): int(v) for k, v in executions.items()} if isinstance(executions, dict) else {}

    def _cancel(self, client: Any, key: str, future: Any) -> None:
        """Stop the job: the event kills a running build worker, cancel() drops a queued job."""
        try:
            distributed_module().Event(cancel_event(key), client=client).set()
            future.cancel()
        except Exception as err:  # the scheduler is gone: so is the job
            log.warning("build job not cancelled", extra={"key": key, "error": f"{type(err).__name__}: {err}"})

    def _forget(self, client: Any) -> None:
        try:
            client.close(timeout=self.connect_timeout)
        except Exception as err:  # already broken: nothing left to release
            log.warning("build engine connection not closed cleanly", extra={"error": type(err).__name__})

    def close(self) -> None:
        """Controller shutdown: cancel every job still out, then disconnect."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is None:
            return
        for key, future in list(self._running.items()):
            self._cancel(client, key, future)
        self._forget(client)


class DaskBuilder(SandboxedBuilder):
    """The controller's builder with the build worker run on a Dask cluster (see the module docstring)."""

    def __init__(self, state_dir: str | Path | None, engine: DaskEngine, **options: Any) -> None:
        super().__init__(state_dir, **options)
        self.engine = engine

    def execute(self, repo: SpecRepository, model: str, keys: Any, say: Say) -> dict[str, int]:
        task = {"state_dir": str(self.state_dir.resolve()), "repo_code": self.repo_code, "network": self.network,
                "isolate": self.isolate, "entry_point": entry_point_of(repo, model),
                "job": self.job(repo, model, keys, None)}  # the worker's host sets its own view and rlimits
        return self.engine.run(task, model, self.limits.max_build_seconds, say)

    def close(self) -> None:
        self.engine.close()
