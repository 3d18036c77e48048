"""Repository code runs, with consent, in the build worker: never with the controller's secrets in
reach, never for longer or larger than the controller's limits.

The attacks: an entry-point module that reads the signing key, the state database and the operator
tokens, looks at the controller through /proc, connects to a loopback port and writes into the
revision; one that never returns; one that allocates without bound. Each runs through the real
parts: a real git repository, the reconcile loop, the `SandboxedBuilder` and its worker processes
under real user, mount, pid and network namespaces.
"""
from __future__ import annotations

import json
import os
import resource
import socket
import threading
from pathlib import Path

import git
import pytest

from controller.devices.signing import Signer
from controller.limits import MIB
from controller.limits import Limits
from controller.planning.keys import model_keys
from controller.reconciler.build_queue import BuildQueue
from controller.reconciler.loop import Reconciler
from controller.reconciler.sandbox import SandboxedBuilder
from controller.reconciler.sandbox import namespaces_unavailable
from controller.sources.git import GitSource
from controller.state import StateStore
from specs.errors import BudgetError
from specs.errors import StageError
from tests.reconcile_specs import SINE_DATASET
from tests.reconcile_specs import NoDevices
from tests.reconcile_specs import commit
from tests.security.attacker import SECRET
from tests.security.attacker import spec_repository

pytestmark = pytest.mark.skipif(namespaces_unavailable() is not None,
                                reason=f"no user namespaces here: {namespaces_unavailable()}")

MODEL = """apiVersion: origami/v1alpha1
kind: Model
metadata: {name: custom}
spec:
  dataset: sine
  architecture: {entryPoint: "%s"}
  training: {epochs: 1, seed: 1}
  variants: [{name: f32, quantization: none}]
"""
TINY = """
def build(input_shape, outputs, task):
    import tf_keras as keras
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(outputs)(keras.layers.Dense(4)(inputs)))
"""
SPY = """import json, os, socket

STATE, REPORT, PORT, CONTROLLER = %(state)r, %(report)r, %(port)d, %(pid)d


def attempt(action):
    try:
        return "got " + repr(action())[:4000]  # whatever it got goes into the report (an artifact)
    except Exception as err:
        return type(err).__name__


SAW = {
    "key": attempt(lambda: open(STATE + "/keys/signing-key.pem").read()),
    "database": attempt(lambda: open(STATE + "/origami-state.db", "rb").read(200)),
    "tokens": attempt(lambda: open(STATE + "/operator-tokens.json").read()),
    "state": sorted(os.listdir(STATE)),
    "through_proc": attempt(lambda: open(f"/proc/{CONTROLLER}/root{STATE}/keys/signing-key.pem").read()),
    "processes": sorted(p for p in os.listdir("/proc") if p.isdigit()),
    "socket": attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3).close()),
    "revision": attempt(lambda: open(os.path.join(os.path.dirname(__file__), "planted.txt"), "w").write("x")),
    "devices": sorted(os.listdir("/dev")),
    "unmount": attempt(lambda: __import__("ctypes").CDLL(None).umount2(STATE.encode(), 2)),
}
with open(REPORT, "w") as report:
    json.dump(SAW, report)
""" + TINY


class Listener:
    """A loopback port the spy tries to reach; records every connection it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.server.close()


def controller(tmp: Path, files: dict[str, str], limits: Limits = Limits(), workers: int = 0):
    """A controller over a git repository of `files`: state dir with its real key, database and tokens."""
    origin = git.Repo.init(tmp / "origin", initial_branch="main")
    commit(origin, files, "merged by someone with write access")
    state = tmp / "state"
    store = StateStore(state / "origami-state.db")
    signer = Signer.load_or_create(state)
    (state / "operator-tokens.json").write_text(json.dumps({"hash": SECRET}))
    builder = SandboxedBuilder(state, allow_repo_code=True, limits=limits)
    builds = BuildQueue(workers=workers)
    loop = Reconciler(store, GitSource(origin.working_dir, state / "source"), builder, NoDevices(), signer,
                      builds=builds, limits=limits)
    return loop, store, builder, builds, state


def test_repository_code_runs_but_sees_no_state_directory_no_controller_and_no_network(tmp_path):
    listener = Listener()
    state = tmp_path / "state"
    report = state / ".origami" / "artifacts" / "spy-report.json"  # the one place the worker may write
    spy = SPY % {"state": str(state), "report": str(report), "port": listener.port, "pid": os.getpid()}
    try:
        loop, store, builder, _, state = controller(tmp_path, {"dataset.yaml": SINE_DATASET,
                                                                "model.yaml": MODEL % "spy:build", "spy.py": spy})
        loop.reconcile_once()
    finally:
        listener.close()
    model = store.object("Model", "custom")
    assert model.model.built, model.last_error  # the code ran, and the build went through
    saw = json.loads(report.read_text())
    assert saw["key"] == saw["database"] == saw["tokens"] == saw["through_proc"] == "FileNotFoundError", saw
    assert saw["state"] == [".origami", "source"], saw  # an empty tmpfs, but for the revision and the store
    assert saw["processes"] == ["1"], saw  # its own pid namespace: the controller is not in sight
    assert saw["socket"] == "OSError" and listener.accepted == 0, saw  # no network at all
    assert saw["revision"] == "OSError", saw  # read-only (EROFS)
    assert saw["devices"] == ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom",
                              "zero"], saw  # no disk to read the key from, even as root
    assert saw["unmount"] == "got -1", saw  # the tmpfs over the state directory is locked in place
    key = (state / "keys" / "signing-key.pem").read_text()
    body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
    assert body and Signer.load_or_create(state).public_key  # the key is still there, untouched
    for path in (state / ".origami").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert body[:40].encode() not in content and SECRET.encode() not in content, path
    assert not any(body[:40] in e.message or SECRET in e.message for e in store.events())


def test_an_entry_point_that_never_returns_is_stopped_at_the_wall_time_limit_and_the_loop_keeps_passing(
        tmp_path):
    endless = "while True:\n    pass\n" + TINY
    loop, store, _, builds, _ = controller(tmp_path, {"dataset.yaml": SINE_DATASET,
                                                      "model.yaml": MODEL % "endless:build", "endless.py": endless},
                                           limits=Limits(max_build_seconds=6), workers=1)
    try:
        passes = 0
        finished = threading.Event()
        builds.on_finished(finished.set)
        loop.reconcile_once()
        while not finished.wait(0.2):
            loop.reconcile_once()  # the loop's thread is free while the build runs
            passes += 1
        assert passes >= 3
        loop.reconcile_once()  # records the failure
        model = store.object("Model", "custom")
        assert model.is_true("Stalled")
        assert model.last_error == ("Model custom: build exceeded 6 s (limit maxBuildSeconds) and was stopped; "
                                    "the controller's limit maxBuildSeconds can be raised with --limits FILE")
        failed = [e for e in store.events() if e.reason == "BuildFailed"]
        assert len(failed) == 1 and failed[0].message.endswith("(not retried until its inputs change)")
        loop.reconcile_once()  # the same inputs would hit the limit again: nothing is resubmitted
        assert not builds.busy() and len([e for e in store.events() if e.reason == "BuildStarted"]) == 1
    finally:
        builds.stop()


def test_an_entry_point_that_allocates_without_bound_fails_at_the_memory_limit(tmp_path):
    greedy = "BLOCKS = []\nwhile True:\n    BLOCKS.append(bytearray(64 * 1024 * 1024))\n" + TINY
    repo_dir = spec_repository(tmp_path, {"dataset.yaml": SINE_DATASET, "model.yaml": MODEL % "greedy:build",
                                          "greedy.py": greedy})
    from controller.loading import load_repository

    repo = load_repository(repo_dir).require_valid()
    builder = SandboxedBuilder(tmp_path / "state", allow_repo_code=True,
                               limits=Limits(max_build_memory_bytes=1024 * MIB))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BudgetError) as stopped:
        builder.run_build(repo, "custom", model_keys(repo, "custom"), lambda _line: None)
    assert str(stopped.value) == ("Model custom: the build ran out of memory at the limit of 1 GiB; "
                                  "the controller's limit maxBuildMemoryBytes can be raised with --limits FILE")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 256 * 1024  # KiB: not in this process


def test_where_builds_cannot_be_sandboxed_repository_code_is_refused_unrun_unless_the_operator_says_so(tmp_path):
    marker = tmp_path / "ran"
    module = f"open({str(marker)!r}, 'w').close()\n" + TINY
    repo_dir = spec_repository(tmp_path, {"dataset.yaml": SINE_DATASET, "model.yaml": MODEL % "mod:build",
                                          "mod.py": module})
    from controller.loading import load_repository

    repo = load_repository(repo_dir).require_valid()
    builder = SandboxedBuilder(tmp_path / "state", allow_repo_code=True, isolate=False)
    with pytest.raises(StageError) as refused:
        builder.run_build(repo, "custom", model_keys(repo, "custom"), lambda _line: None)
    assert str(refused.value) == (
        "architecture.entryPoint mod:build: this Model runs code from the spec repository and the build cannot "
        "be sandboxed: the controller was told not to use namespaces; fix that, or start the controller with "
        "--allow-unsandboxed-repo-code to run it with the controller's rights")
    assert not marker.exists()
    unsandboxed = SandboxedBuilder(tmp_path / "state", allow_repo_code="unsandboxed", isolate=False)
    build = unsandboxed.run_build(repo, "custom", model_keys(repo, "custom"), lambda _line: None)
    assert marker.exists() and build.executions["train"] == 1  # the operator's explicit choice


def test_code_paths_bound_back_never_reveal_the_state_directory(tmp_path):
    """A virtualenv inside the state directory comes back read-only; a source checkout that contains
    the state directory (`origami reconcile` run in it with the default --state-dir .) does not, as
    binding it would show the keys again: its packages come back one by one instead."""
    from controller.reconciler.sandbox import view_for

    state, checkout = tmp_path / "work" / "state", tmp_path / "work"
    venv, package = state / ".venv" / "lib", checkout / "controller"
    for folder in (venv, package, state / "source" / "rev"):
        folder.mkdir(parents=True)
    view = view_for(state, state / "source" / "rev", [state / ".origami" / "artifacts"], [venv, checkout, package])
    assert str(state) in view.hidden and "/tmp" in view.hidden
    assert view.binds == {str(state / "source" / "rev"): False, str(state / ".origami" / "artifacts"): True,
                          str(venv): False, str(package): False}
