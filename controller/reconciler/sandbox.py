"""Every model build runs in the build worker (`controller.reconciler.build_worker`), a process of
its own with the controller's limits enforced by the kernel, and, where the host allows, without the
state directory, the network or the other processes in sight.

Why every build and not only those with repository code: a thread cannot be stopped, so only a
process makes `maxBuildSeconds` and `maxBuildMemoryBytes` bind (`epochs: 1000` on a big dataset must
not hold the build queue for hours, nor a big dataset take the controller's memory); and the parsers
of data files (CSV, NPZ, images, WAV) are safer away from the keys as well. The cost is one Python
start and one TensorFlow import per model build (3.8 s measured; small against a training).

Limits (set in the worker, soft = hard, before anything of the build runs):
- wall time: the controller kills the worker's process group at `maxBuildSeconds`;
- RLIMIT_CPU: `maxBuildSeconds` x CPUs (a build may use every core; the wall time binds first);
- RLIMIT_DATA: `maxBuildMemoryBytes`. Not RLIMIT_AS: TensorFlow maps ~2.9 GiB of address space
  (libraries, thread stacks, reservations) for a small build whose heap peaks at ~0.6 GiB, so an
  address-space limit would measure TensorFlow's layout rather than what the build allocates;
- RLIMIT_FSIZE: the largest file a build writes (a dataset snapshot of `maxDatasetValues` float64s
  or a Keras model of `maxModelParameters`), plus slack; RLIMIT_NOFILE 1024; no core files.

Isolation (Linux, unprivileged user namespaces: `unshare --user --map-root-user --mount --pid
--net`): an empty tmpfs over the state directory (signing key, operator tokens, state database,
broker passwords), /tmp, /var/tmp and /dev/shm; the revision bound back read-only and the artifact
store and stage records read-write (`controller.reconciler.confinement`); a fresh /proc that shows
the worker's processes only; no network interface but a loopback that is down.

Without namespaces, builds without repository code still run in the worker with the limits above;
a Model with an entry point is refused unless the operator chose `--allow-unsandboxed-repo-code`.
"""
from __future__ import annotations

import collections
import functools
import importlib.util
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.limits import DEFAULT_LIMITS
from controller.limits import MIB
from controller.limits import Limits
from controller.limits import how_to_raise
from controller.limits import show_bytes
from controller.loading import SpecRepository
from controller.reconciler.confinement import View
from controller.reconciler.ports import ModelOutcome
from controller.reconciler.ports import Progress
from controller.reconciler.wiring import PipelineBuilder
from controller.reconciler.wiring import artifact_dir
from controller.reconciler.wiring import outcome_of
from specs.errors import BudgetError
from specs.errors import StageError
from wire.logs import Say
from wire.logs import get_logger

log = get_logger("reconciler.sandbox")

NAMESPACES = ("--user", "--map-root-user", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child")
WORKER = ("-m", "controller.reconciler.build_worker")
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # hidden too: other programs' files, no leftovers
MAX_LINE_BYTES = 64 * 1024  # one protocol line; longer ones are cut and ignored
ENV_NAMES = {"PATH", "LANG", "HOME", "TZ", "VIRTUAL_ENV", "LD_LIBRARY_PATH"}
ENV_PREFIXES = ("PYTHON", "TF_", "LC_", "OMP_", "CUDA_", "KERAS")
UNSANDBOXED = "unsandboxed"
PACKAGES = ("controller", "device", "runtimes", "specs", "wire")  # Origami's own, wherever installed


@functools.cache
def namespaces_unavailable() -> str | None:
    """Why this host cannot sandbox a build (None: it can). Probed once per process."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the unshare command (util-linux) is not installed"
    try:
        probe = subprocess.run([unshare, *NAMESPACES, "--net", "true"], capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare could not run ({type(err).__name__})"
    if probe.returncode != 0:
        first = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"unprivileged user namespaces are unavailable here (unshare: {first[:160]})"
    return None


def rlimits(limits: Limits) -> dict[str, list[int]]:
    """The worker's resource limits (see the module docstring for why each)."""
    cpu = limits.max_build_seconds * (os.cpu_count() or 1)
    largest_file = max(limits.max_dataset_values * 8, limits.max_model_parameters * 16, limits.max_dataset_bytes)
    fsize = largest_file + 64 * MIB
    return {"RLIMIT_CPU": [cpu, cpu + 5], "RLIMIT_DATA": [limits.max_build_memory_bytes] * 2,
            "RLIMIT_FSIZE": [fsize, fsize], "RLIMIT_NOFILE": [1024, 1024], "RLIMIT_CORE": [0, 0]}


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def import_paths() -> list[Path]:
    """Where this interpreter finds its code: the worker needs them even when they are in a hidden
    directory (a virtualenv in the state directory, a source checkout)."""
    found = (importlib.util.find_spec(name) for name in PACKAGES)
    packages = [Path(spec.origin).parent for spec in found if spec is not None and spec.origin]
    entries = [Path(p) for p in sys.path if p and os.path.isabs(p)]
    return [p.resolve() for p in [Path(sys.prefix), *entries, *packages] if p.is_dir()]


def view_for(state_dir: Path, revision: Path, store_dirs: list[Path], code: list[Path]) -> View:
    """Hide the state directory and scratch directories; bind back the revision (read-only), the
    store (read-write) and the interpreter's code (read-only) where a hidden directory covers it."""
    state = state_dir.resolve()
    hidden = [Path(d).resolve() for d in SCRATCH_DIRS if os.path.isdir(d)] + [state]
    binds = {str(revision.resolve()): False, **{str(d.resolve()): True for d in store_dirs}}
    for path in code:
        covered = any(_inside(path, h) for h in hidden)
        reveals = any(_inside(h, path) for h in hidden)  # binding it would show a hidden directory again
        if covered and not reveals:
            binds.setdefault(str(path), False)
    return View(tuple(str(h) for h in hidden), binds, tmpfs_bytes=256 * MIB)


def worker_env() -> dict[str, str]:
    """The controller's environment minus anything not needed to run Python and TensorFlow: a
    variable may hold a password (the broker's, a token)."""
    env = {k: v for k, v in os.environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
    code = [str(p) for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(code))  # the worker imports the code this process runs
    return env


class Worker:
    """One worker process: the job in on stdin, JSON lines out, killed at the wall-time limit."""

    def __init__(self, command: list[str], job: dict[str, Any]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True, env=worker_env(),
                                        cwd="/")
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._read_stdout, daemon=True, name="build-worker-out").start()
        threading.Thread(target=self._read_stderr, daemon=True, name="build-worker-err").start()
        assert self.process.stdin is not None  # all three pipes were asked for
        try:
            self.process.stdin.write(json.dumps(job).encode())
            self.process.stdin.close()
        except OSError:
            pass  # it died at once: its exit status says why

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        while line := self.process.stdout.readline(MAX_LINE_BYTES):
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            text = line.decode("utf-8", "replace").rstrip()[:300]
            self.stderr.append(text)
            log.debug("build worker stderr", extra={"line": text})  # `--log-level DEBUG` shows TensorFlow's output

    def messages(self, deadline: float) -> Iterator[dict[str, Any]]:
        """Each protocol message until the worker closes stdout; TimeoutError at `deadline`."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError from None
            if line is None:
                return
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                yield message

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, deadline: float) -> int:
        try:
            return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError from None


def died_message(model: str, status: int, limits: Limits) -> StageError:
    """The error for a worker that ended without saying why (a signal, mostly)."""
    if status == -signal.SIGXCPU:
        return BudgetError(f"Model {model}: build used more than {limits.max_build_seconds * (os.cpu_count() or 1):,} "
                           f"s of CPU time (limit maxBuildSeconds x CPUs); {how_to_raise('max_build_seconds')}")
    if status == -signal.SIGXFSZ:
        return BudgetError(f"Model {model}: build wrote a file larger than its datasets and model may need "
                           f"(limits maxDatasetValues, maxModelParameters); {how_to_raise('max_dataset_values')}")
    if status < 0:
        try:
            what = f"was killed ({signal.Signals(-status).name})"
        except ValueError:
            what = f"was killed (signal {-status})"
    else:
        what = f"exited with status {status} without a result"
    return StageError(f"Model {model}: the build worker {what}; if it ran out of memory, raise "
                      f"maxBuildMemoryBytes ({show_bytes(limits.max_build_memory_bytes)}) with --limits FILE")


def run_worker(command: list[str], job: dict[str, Any], limits: Limits, say: Say,
               started: Callable[[Worker], None] | None = None) -> dict[str, int]:
    """Run one job to its end; the stages that ran. Raises StageError (BudgetError for a limit).
    `started(worker)` is called once the process runs (a build engine's task kills it on cancel)."""
    model, seconds = job["model"], limits.max_build_seconds
    deadline = time.monotonic() + seconds
    worker = Worker(command, job)
    if started is not None:
        started(worker)
    done: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    try:
        for message in worker.messages(deadline):
            if isinstance(message.get("progress"), str):
                say(message["progress"][:200])
            elif isinstance(message.get("done"), dict):
                done = message["done"]
            elif isinstance(message.get("error"), str):
                error = message
        status = worker.wait(deadline)
    except TimeoutError:
        worker.kill()
        worker.process.wait()
        log.warning("build stopped at the wall-time limit", extra={"model": model, "seconds": seconds})
        raise BudgetError(f"Model {model}: build exceeded {seconds:,} s (limit maxBuildSeconds) and was stopped; "
                          f"{how_to_raise('max_build_seconds')}") from None
    if status == 0 and done is not None:
        executions = done.get("executions")
        return {str(k): int(v) for k, v in executions.items()} if isinstance(executions, dict) else {}
    if worker.stderr:
        log.warning("build worker failed", extra={"model": model, "status": status,
                                                  "stderr": "\n".join(worker.stderr)})
    if error is not None:
        text = error["error"][:2000]
        raise BudgetError(text) if error.get("budget") is True else StageError(text)
    raise died_message(model, status, limits)


class SandboxedBuilder(PipelineBuilder):
    """The controller's builder: reads back like `PipelineBuilder`, builds in the build worker.

    `allow_repo_code`: False (entry points refused), True (run, sandboxed; refused where the host
    cannot sandbox) or "unsandboxed" (run even without the sandbox, with the controller's rights).
    `isolate`: None to use namespaces when the host has them; False never (tests, and the fallback).
    """

    def __init__(self, state_dir: str | Path | None, *, allow_repo_code: bool | str = False,
                 limits: Limits = DEFAULT_LIMITS, network: bool = False, isolate: bool | None = None,
                 public_key: Any = None) -> None:
        if allow_repo_code not in (False, True, UNSANDBOXED):
            raise ValueError(f"allow_repo_code: {allow_repo_code!r}")
        super().__init__(artifact_dir(state_dir), allow_repo_code=bool(allow_repo_code), limits=limits,
                         public_key=public_key)
        self.state_dir = Path(state_dir or ".")
        self.repo_code = allow_repo_code
        self.network = network
        self.isolate = isolate  # handed to a build engine's workers, which probe their own host
        self.unavailable = "the controller was told not to use namespaces" if isolate is False \
            else namespaces_unavailable()

    def _view(self, repo: SpecRepository, model: str) -> View | None:
        """The worker's view, or None to run it unconfined (refused for repository code unless the
        operator chose so)."""
        return self.view_of(Path(repo.root), entry_point_of(repo, model))

    def view_of(self, root: Path, entry_point: str | None) -> View | None:
        """`_view` for a revision at `root` whose Model has `entry_point`: a build engine's worker
        decides on its own host, without loading the repository."""
        runs_code = bool(entry_point) and self.allow_repo_code
        why = self.unavailable
        if why is None and _inside(self.state_dir.resolve(), root.resolve()):
            why = "the spec repository contains the state directory; give --state-dir a directory outside it"
        if why is None:
            return view_for(self.state_dir, root, [self.store.root, self.cache.root], import_paths())
        if runs_code and self.repo_code != UNSANDBOXED:
            raise StageError(f"architecture.entryPoint {entry_point}: this Model runs code from the spec repository "
                             f"and the build cannot be sandboxed: {why}; fix that, or start the controller with "
                             "--allow-unsandboxed-repo-code to run it with the controller's rights")
        return None

    def command(self, view: View | None) -> list[str]:
        prefix = [shutil.which("unshare") or "unshare", *NAMESPACES, *(() if self.network else ("--net",))]
        return [*(prefix if view is not None else ()), sys.executable, *WORKER]

    def job(self, repo: SpecRepository, model: str, keys: Any, view: View | None) -> dict[str, Any]:
        """The build worker's job (see `controller.reconciler.build_worker`)."""
        return {"revision": str(Path(repo.root).resolve()), "model": model, "keys": _keys_dict(keys),
                "artifacts": str(self.store.root.resolve()), "limits": _limits_dict(self.limits),
                "allow_repo_code": self.allow_repo_code, "rlimits": rlimits(self.limits),
                "view": view.to_dict() if view is not None else None, "collected": _collected_pins(repo, model)}

    def execute(self, repo: SpecRepository, model: str, keys: Any, say: Say) -> dict[str, int]:
        """Run the build worker for `model` on this host; the stages that ran."""
        view = self._view(repo, model)
        return run_worker(self.command(view), self.job(repo, model, keys, view), self.limits, say)

    def run_build(self, repo: SpecRepository, model: str, keys: Any, say: Say) -> Any:
        """Build `model` in the worker; its `ModelBuild` read back from the store, with the stages run."""
        from controller.pipeline.build import built_model

        executions = self.execute(repo, model, keys, say)
        build = built_model(repo, model, keys, self.store, self.cache)
        if build is None:
            raise StageError(f"Model {model}: the build worker finished but its stages are not in the artifact store")
        return replace(build, executions=executions)

    def build_model(self, repo: SpecRepository, model: str, keys: Any, progress: Progress) -> ModelOutcome:
        outcome = outcome_of(self.run_build(repo, model, keys, lambda message: progress(message, 0.0)))
        self._models[keys.cards] = outcome
        return outcome


def entry_point_of(repo: SpecRepository, model: str) -> str | None:
    """The Model's `architecture.entryPoint` (code from the spec repository), or None."""
    return repo.models[model].spec.architecture.entryPoint if model in repo.models else None


def _collected_pins(repo: SpecRepository, model: str) -> dict[str, str] | None:
    """The worker has no sample index: it gets the snapshots pinned for the model's collected sources."""
    from controller.collect.snapshot import pinned_for_build
    from controller.pipeline.collected import registered_provider

    dataset = repo.datasets.get(repo.models[model].spec.dataset) if model in repo.models else None
    return pinned_for_build(registered_provider(), dataset.spec.sources) if dataset is not None else None


def _keys_dict(keys: Any) -> dict[str, Any]:
    return {"dataset": keys.dataset, "train": keys.train, "variants": dict(keys.variants), "cards": keys.cards}


def _limits_dict(limits: Limits) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(limits)
