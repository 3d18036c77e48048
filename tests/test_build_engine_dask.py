"""Model builds as jobs on a Dask cluster (`--build-engine`): a real `LocalCluster` on loopback, a
real build worker on its worker process, the artifacts in the store the controller reads."""
from __future__ import annotations

import socket
import threading
from dataclasses import replace

import psutil
import pytest
from distributed import Client
from distributed import LocalCluster

from controller.cli.main import main
from controller.devices.signing import Signer
from controller.limits import DEFAULT_LIMITS
from controller.planning.keys import model_keys
from controller.reconciler.build_engine_dask import DaskBuilder
from controller.reconciler.build_engine_dask import DaskEngine
from controller.reconciler.build_engine_task import PROGRESS_TOPIC
from controller.reconciler.loop import Reconciler
from controller.reconciler.sandbox import SandboxedBuilder
from controller.sources.local import LocalSource
from controller.state import StateStore
from controller.state import open_store
from specs.errors import BudgetError
from specs.errors import BuildEngineError
from specs.errors import UsageError
from tests.reconcile_specs import NoDevices
from tests.spec_repos import sine_repo
from tests.waiting import wait_until

BUILD_WORKER = "controller.reconciler.build_worker"


@pytest.fixture(scope="module")
def cluster():
    # One worker process with one thread: a build job runs in a process other than the test's.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def sine(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    return root, sine_repo(root / "specs", variants="    - {name: int8}", epochs=2)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_workers_under(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for child in children:
            try:
                if BUILD_WORKER in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.NoSuchProcess:
                pass
    return found


def test_a_build_on_the_cluster_has_the_digests_of_a_build_on_this_host(cluster, sine):
    root, repo = sine
    keys = model_keys(repo, "sine")
    engine = DaskEngine(cluster.scheduler_address)
    remote = DaskBuilder(root / "state-engine", engine)
    lines: list[str] = []
    try:
        on_engine = remote.build_model(repo, "sine", keys, lambda message, _: lines.append(message))
    finally:
        remote.close()
    local = SandboxedBuilder(root / "state-here")  # the default: the build worker on this host
    here = local.build_model(repo, "sine", keys, lambda *_: None)

    workers = cluster.scheduler_info["workers"]
    assert engine.last_run["worker"] in workers  # the job ran in the cluster's worker process
    assert any("epoch 1/2" in line for line in lines)  # its progress came back as Dask events
    assert on_engine.stages_run == here.stages_run == {"dataset": 1, "train": 1, "squeeze": 1, "cards": 1}
    digest = on_engine.variants["int8"]["digest"]
    assert digest == here.variants["int8"]["digest"]
    assert on_engine.dataset_digest == here.dataset_digest
    assert on_engine.handle.model_digest == here.handle.model_digest
    assert remote.store.exists(digest) and local.store.exists(digest)  # in each controller's own store
    assert remote.is_built(keys.cards)


def test_a_worker_that_cannot_see_the_state_directory_says_so(cluster, sine, tmp_path):
    root, repo = sine
    builder = DaskBuilder(tmp_path / "state", DaskEngine(cluster.scheduler_address))
    task = {"state_dir": str(tmp_path / "state"), "repo_code": False, "network": False, "isolate": None,
            "entry_point": None, "job": builder.job(repo, "sine", model_keys(repo, "sine"), None)}
    task["job"]["artifacts"] = str(tmp_path / "not-mounted" / "artifacts")
    try:
        with pytest.raises(BuildEngineError, match="not on the build engine's worker .* shared filesystem"):
            builder.engine.run(task, "sine", 60, lambda _: None)
    finally:
        builder.close()


def test_max_build_seconds_binds_on_the_engine_worker(cluster, sine):
    root, repo = sine
    builder = DaskBuilder(root / "state-budget", DaskEngine(cluster.scheduler_address),
                          limits=replace(DEFAULT_LIMITS, max_build_seconds=1))
    try:  # the worker's host kills the build at the limit; the error crosses the cluster as it is
        with pytest.raises(BudgetError, match=r"exceeded 1 s \(limit maxBuildSeconds\)"):
            builder.build_model(repo, "sine", model_keys(repo, "sine"), lambda *_: None)
    finally:
        builder.close()


def test_no_result_in_time_is_an_engine_error_and_the_job_is_cancelled(cluster, sine):
    root, repo = sine
    engine = DaskEngine(cluster.scheduler_address, start_grace=0)
    builder = DaskBuilder(root / "state-late", engine)
    task = {"state_dir": str(builder.state_dir.resolve()), "repo_code": False, "network": False, "isolate": None,
            "entry_point": None, "job": builder.job(repo, "sine", model_keys(repo, "sine"), None)}
    worker_pids = [p.pid for p in psutil.Process().children(recursive=True)]
    try:  # a wait of 1 s: less than the build worker's Python and TensorFlow start
        with pytest.raises(BuildEngineError, match="returned no result within 1 s .* the job was cancelled"):
            engine.run(task, "sine", 1, lambda _: None)
        wait_until(lambda: not build_workers_under(worker_pids), "the late build worker to be killed", 30)
    finally:
        builder.close()


def test_stopping_the_controller_cancels_the_build_and_kills_its_worker(cluster, sine):
    root, repo = sine
    slow = sine_repo(root / "slow-specs", variants="    - {name: int8}", epochs=1000)
    engine = DaskEngine(cluster.scheduler_address)
    builder = DaskBuilder(root / "state-cancelled", engine)
    training = threading.Event()
    failure: list[BaseException] = []

    def build() -> None:
        try:
            builder.build_model(slow, "sine", model_keys(slow, "sine"),
                                lambda message, _: training.set() if "epoch" in message else None)
        except BaseException as err:
            failure.append(err)

    thread = threading.Thread(target=build)
    thread.start()
    assert training.wait(120), "the build never started training on the cluster"
    worker_pids = [p.pid for p in psutil.Process().children(recursive=True) if p.pid != 0]
    assert build_workers_under(worker_pids)
    builder.close()
    thread.join(60)
    assert not thread.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], BuildEngineError)
    assert "cancelled (the controller stopped)" in str(failure[0])
    wait_until(lambda: not build_workers_under(worker_pids), "the cancelled build worker to be killed", 30)


def test_an_unreachable_engine_fails_the_build_with_a_clear_condition(tmp_path):
    sine_repo(tmp_path / "specs", variants="    - {name: int8}", epochs=2)
    address = f"tcp://127.0.0.1:{closed_port()}"
    builder = DaskBuilder(tmp_path / "state", DaskEngine(address, connect_timeout=2))
    store = StateStore(tmp_path / "state" / "origami-state.db")
    loop = Reconciler(store, LocalSource(tmp_path / "specs", workdir=tmp_path / "state" / "source"), builder,
                      NoDevices(), Signer.load_or_create(tmp_path / "state"))
    loop.reconcile_once()
    model = store.object("Model", "sine")
    stalled = model.conditions["Stalled"]
    assert stalled.status and stalled.reason == "BuildFailed"
    assert f"the build engine {address} could not be reached" in stalled.message
    assert "dask scheduler" in stalled.message and "Traceback" not in stalled.message
    builder.close()


def test_the_engine_address_is_checked_before_anything_starts():
    with pytest.raises(UsageError, match="tcp://HOST:PORT"):
        DaskEngine("127.0.0.1:8786")


def test_origami_reconcile_sends_its_builds_to_the_engine(cluster, tmp_path, monkeypatch):
    sine_repo(tmp_path / "specs", variants="    - {name: int8}", epochs=2)
    state = tmp_path / "state"
    monkeypatch.setenv("ORIGAMI_BUILD_ENGINE", cluster.scheduler_address)  # the flag's environment variable
    assert main(["reconcile", str(tmp_path / "specs"), "--once", "--state-dir", str(state)]) == 0
    model = open_store(state, read_only=True).object("Model", "sine")
    assert model.model.built, model.conditions
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        keys = {message["key"] for _, message in client.get_events(PROGRESS_TOPIC)}
    assert any(key.startswith("origami-build-sine-") for key in keys)  # the build's lines came from the cluster


def test_the_address_flag_is_checked_before_anything_starts(tmp_path, capsys):
    assert main(["reconcile", str(tmp_path), "--once", "--state-dir", str(tmp_path / "state"),
                 "--build-engine", "127.0.0.1:8786"]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # no key, no database made for a controller that never ran
