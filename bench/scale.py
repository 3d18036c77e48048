"""Scale benchmark (issue 17), first figures: a no-op pass over 50 models at 1,000 and 10,000 converged
devices on each state backend (SQLite file; PostgreSQL started here by `initdb` in a temp dir, as the
tests do), with the controller's CPU per device for that pass. Reuses bench/reconcile.py's harness
(converged state recorded through the store; a builder and signer that fail the bench if used).

CPU is this process's (the controller side); PostgreSQL's own server CPU is not counted. Replica
failover (`replica_failover_ok`, `double_installs`) is measured by tests/test_replicas_postgres.py with
real processes, and reported here only when `--replicas` runs that test (it takes about a minute).

    .venv/bin/python bench/scale.py [--json] [--sizes 1000,10000] [--replicas]
"""
from __future__ import annotations

import argparse
import json
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


def noop_pass(tmp: Path, devices: int, url: str | None) -> dict:
    """Median wall and CPU time of a no-op pass at `devices` converged devices."""
    write_specs(tmp / "specs")
    store = StateStore(tmp / "origami-state.db", url=url)
    link = Quiet()
    loop = Reconciler(store, LocalSource(tmp / "specs"), AlreadyBuilt(), link, Unsigned())
    seed_converged(store, loop, devices)
    loop.reconcile_once()  # the first pass after seeding writes status once
    link.sent = 0
    walls, cpus, actions = [], [], 0
    for _ in range(PASSES):
        wall, cpu = time.perf_counter(), time.process_time()
        actions += loop.reconcile_once().actions
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    store.close()
    return {"noop_ms": round(sorted(walls)[PASSES // 2] * 1000, 1),
            "cpu_ms_per_device": round(sorted(cpus)[PASSES // 2] * 1000 / devices, 4),
            "actions": actions + link.sent}


def replica_failover() -> dict:
    """Run the replica test (three `origami reconcile` processes on PostgreSQL, one SIGKILLed)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_replicas_postgres.py"], cwd=ROOT, capture_output=True, text=True)
    ok = done.returncode == 0
    return {"replica_failover_ok": ok, "double_installs": 0 if ok else None}  # the test asserts none


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--replicas", action="store_true", help="also run the replica failover test")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from tests.postgres import missing
    from tests.postgres import start_postgres

    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    server = None
    if missing() is None:
        from tests.conftest import free_port

        server = start_postgres(free_port())
        backends.append(("postgresql", None))
    out: dict = {"devices": sizes, "state_backend": [b for b, _ in backends], "backends": {}}
    try:
        for backend, _ in backends:
            figures = {}
            for size in sizes:
                url = server.create_database("bench") if backend == "postgresql" and server else None
                with tempfile.TemporaryDirectory(prefix="origami-scale-") as tmp:
                    figures[size] = noop_pass(Path(tmp), size, url)
            out["backends"][backend] = {str(k): v for k, v in figures.items()}
            for size, f in figures.items():
                label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
                out[f"noop_ms_{label}_{backend}"] = f["noop_ms"]
                out[f"cpu_ms_per_device_{label}_{backend}"] = f["cpu_ms_per_device"]
    finally:
        if server:
            server.stop()
    if args.replicas:
        out |= replica_failover()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            if key != "backends":
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
