"""Scale benchmark (issue 17): the reconcile pass at 1,000 to 100,000 converged devices on each state
backend (SQLite file; PostgreSQL started here by `initdb` in a temp dir, as the tests do), and
commit-to-convergence of 10,000 simulated devices (`device.virtual.swarm`) on a local Mosquitto.

Per size, in a fresh process (so memory figures are its own): the converged state is recorded
through the store (bench/reconcile.py's harness: a builder and signer that fail the bench if used),
then one full pass (`full_pass_ms`: plan and every fleet over every device, as the resync every
`RESYNC_S` does), then five passes of a settled controller with nothing changed (`noop_ms`, median;
CPU per device of that pass; zero actions expected). `mem_kb_per_device` is the process's resident
memory after the passes less before seeding, per device.

CPU is this process's (the controller side); PostgreSQL's own server CPU is not counted. Replica
failover (`replica_failover_ok`, `double_installs`) is measured by tests/test_replicas_postgres.py with
real processes, and reported here only when `--replicas` runs that test (it takes about a minute).

    .venv/bin/python bench/scale.py [--json] [--sizes 1000,10000,100000] [--backends sqlite,postgresql]
                                    [--converge 10000] [--replicas] [--split 3 [--split-reports 5000]]

`--split N` (bench/shared_reports.py): reports consumed per replica by N replicas with and without an MQTT 5
share group, on a local Mosquitto (`split_per_replica_*`, `split_max_share_*`, `split_seconds_*`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reconcile import AlreadyBuilt  # noqa: E402  (bench/reconcile.py's harness)
from reconcile import Quiet  # noqa: E402
from reconcile import Unsigned  # noqa: E402
from reconcile import seed_converged  # noqa: E402
from reconcile import write_specs  # noqa: E402

from controller.reconciler.loop import Reconciler  # noqa: E402
from controller.sources.local import LocalSource  # noqa: E402
from controller.state import StateStore  # noqa: E402

PASSES = 5


def rss_kb() -> int:
    """Resident memory of this process now (not the peak), in KiB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def noop_pass(tmp: Path, devices: int, url: str | None) -> dict:
    """Full pass and settled no-op pass figures at `devices` converged devices (run in a child process)."""
    write_specs(tmp / "specs")
    rss0 = rss_kb()
    store = StateStore(tmp / "origami-state.db", url=url)
    link = Quiet()
    loop = Reconciler(store, LocalSource(tmp / "specs"), AlreadyBuilt(), link, Unsigned())
    seed_converged(store, loop, devices)
    loop.reconcile_once()  # the first pass after seeding writes status once
    link.sent = 0
    loop.resync()
    wall = time.perf_counter()
    actions = loop.reconcile_once().actions  # a full pass that finds nothing to do: the controller settles
    full_ms = (time.perf_counter() - wall) * 1000
    walls, cpus = [], []
    for _ in range(PASSES):
        wall, cpu = time.perf_counter(), time.process_time()
        actions += loop.reconcile_once().actions
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    mem = (rss_kb() - rss0) / devices
    skipped = loop.skipped_passes
    store.close()
    return {"noop_ms": round(sorted(walls)[PASSES // 2] * 1000, 2),
            "cpu_ms_per_device": round(sorted(cpus)[PASSES // 2] * 1000 / devices, 6),
            "full_pass_ms": round(full_ms, 1), "mem_kb_per_device": round(mem, 2),
            "settled_passes": skipped, "actions": actions + link.sent}


def _child(tmp: str, devices: int, url: str | None, out) -> None:
    out.put(noop_pass(Path(tmp), devices, url))


def measured(devices: int, url: str | None) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="origami-scale-") as tmp:
        child = ctx.Process(target=_child, args=(tmp, devices, url, out))
        child.start()
        figures = out.get(timeout=3600)
        child.join(60)
    return figures


def label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def converge_10k(count: int) -> float:
    """Seconds from the commit adding a fleet to every one of `count` swarm devices reporting it."""
    from reconcile import converge

    from tests.conftest import start_mosquitto
    from tests.conftest import stop_mosquitto

    tmp = Path(tempfile.mkdtemp(prefix="origami-scale-converge-"))
    broker = start_mosquitto(tmp / "mosquitto")
    try:
        seconds, _cpu = converge(tmp / "run", broker.url, count, tmp / "artifacts")
    finally:
        stop_mosquitto(broker)
        shutil.rmtree(tmp, ignore_errors=True)
    return round(seconds, 1)


def replica_failover() -> dict:
    """Run the replica test (three `origami reconcile` processes on PostgreSQL, one SIGKILLed)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_replicas_postgres.py"], cwd=ROOT, capture_output=True, text=True)
    ok = done.returncode == 0
    return {"replica_failover_ok": ok, "double_installs": 0 if ok else None}  # the test asserts none


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--converge", type=int, default=10000, help="swarm size to converge (0: skip)")
    parser.add_argument("--replicas", action="store_true", help="also run the replica failover test")
    parser.add_argument("--split", type=int, default=0, metavar="N",
                        help="also measure reports consumed per replica by N replicas, shared or not (0: skip)")
    parser.add_argument("--split-reports", type=int, default=5000, metavar="COUNT")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    from tests.postgres import missing
    from tests.postgres import start_postgres

    backends = [b for b in args.backends.split(",") if b == "sqlite" or (b == "postgresql" and missing() is None)]
    server = None
    if "postgresql" in backends:
        from tests.conftest import free_port

        server = start_postgres(free_port())
    out: dict = {"devices": sizes, "devices_max": max(sizes), "state_backend": backends, "backends": {}}
    try:
        for backend in backends:
            figures = {}
            for size in sizes:
                url = server.create_database(f"bench{size}") if backend == "postgresql" and server else None
                figures[size] = measured(size, url)
                print(f"{backend} {size}: {figures[size]}", file=sys.stderr, flush=True)
            out["backends"][backend] = {str(k): v for k, v in figures.items()}
            suffix = "" if backend == backends[0] else f"_{backend}"  # the first backend's are the headline
            for size, f in figures.items():
                for key in ("noop_ms", "cpu_ms_per_device", "full_pass_ms", "mem_kb_per_device"):
                    out[f"{key}_{label(size)}{suffix}"] = f[key]
            small, large = figures[sizes[0]], figures[sizes[-1]]
            if small["cpu_ms_per_device"]:
                out[f"cpu_ms_per_device_ratio{suffix}"] = round(large["cpu_ms_per_device"]
                                                                / small["cpu_ms_per_device"], 3)
            out[f"noop_actions{suffix}"] = sum(f["actions"] for f in figures.values())
    finally:
        if server:
            server.stop()
    if args.converge:
        out[f"converge_s_{label(args.converge)}"] = converge_10k(args.converge)
    if args.replicas:
        out |= replica_failover()
    if args.split:
        from shared_reports import measure_split

        out |= measure_split(args.split, args.split_reports)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            if key != "backends":
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
