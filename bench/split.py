"""Split choice for every example model on every built-in board at three link speeds.

For each (model, board, link): the chosen cut, the modelled latency of device only (the whole model
on the board, when it fits), edge only (the raw input sent to the worker) and of the choice, the
time the choice itself takes, and whether it equals a brute-force evaluation of every cut. The
example models are trained with their own specs and their heads measured on TFLM; a 100-layer
model (estimated head figures) times the choice at scale.

Link speeds and per-message latencies are the benchmark's assumptions: BLE 100 kB/s and 30 ms (a
connection interval), Wi-Fi 2 MB/s and 5 ms, Ethernet 50 MB/s and 1 ms. The worker is the built-in
rpi4 profile. Usage: .venv/bin/python bench/split.py [--json] [--epochs N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.loading import load_repository  # noqa: E402
from controller.split import decide  # noqa: E402
from controller.split.cost import LinkSpeed  # noqa: E402
from specs.v1alpha1.catalogue import BUILTIN_PROFILES  # noqa: E402
from specs.v1alpha1.model import SplitPolicy  # noqa: E402

LINKS = {"ble": LinkSpeed(100e3, 0.030), "wifi": LinkSpeed(2e6, 0.005), "ethernet": LinkSpeed(50e6, 0.001)}
REPEATS = 50


def brute_force(profile, board, link, worker_macs, reserve):
    """Every cut costed from scratch; the feasible minimum latency (None when nothing fits)."""
    best = None
    for cut in profile.cuts:
        if cut.edge_only or cut.head_arena_bytes > board.spec.ram - reserve or \
                cut.head_flash_bytes > board.spec.flash - reserve:
            continue
        latency = cut.head_macs / board.spec.macsPerSecond
        if not cut.whole:
            latency += ((cut.crossing_bytes + cut.reply_bytes) / link.bandwidth + 2 * link.latency_s
                        + cut.tail_macs / worker_macs)
        best = latency if best is None else min(best, latency)
    return best


def timed_choice(profile, board, link, policy, worker_macs):
    """(decision or error text, median seconds of the choice over REPEATS runs)."""
    from specs.errors import StageError

    times, outcome = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        try:
            outcome = decide(profile, board, link, policy, worker_macs=worker_macs)
        except StageError as err:
            outcome = str(err)
        times.append(time.perf_counter() - started)
    return outcome, statistics.median(times)


def example_profiles(epochs: int | None, say):
    """(name, ModelProfile, SplitPolicy) for every Model of every example repository, trained and measured."""
    from controller.pipeline.datasets import build_snapshot
    from controller.pipeline.training import train
    from controller.split import profile_model

    for repo_dir in sorted(p for p in (ROOT / "examples").iterdir() if (p / "model.yaml").exists()):
        repo = load_repository(repo_dir)
        if not repo.valid:
            continue
        for name, model in sorted(repo.models.items()):
            spec = model.spec
            if epochs:
                spec = spec.model_copy(update={"training": spec.training.model_copy(update={"epochs": epochs})})
            dataset = repo.datasets[spec.dataset]
            say(f"{name}: snapshot, training ({spec.training.epochs} epochs max), measuring every head on TFLM")
            snapshot = build_snapshot(dataset.spec, repo.source_of(dataset.ref))
            keras_model = train(snapshot, spec, repo.source_of(model.ref)).model
            yield name, profile_model(keras_model, snapshot.x("train")), spec.split


def hundred_layer_profile():
    """A 100-layer chain (Input + 99 Dense), profiled with estimated head figures."""
    from controller.pipeline.tf_runtime import import_tf
    from controller.split import profile_model

    _, keras = import_tf()
    inputs = keras.Input((64,), name="features")
    x = inputs
    for i in range(99):
        x = keras.layers.Dense(64 if i < 98 else 10, activation="relu", name=f"dense_{i}")(x)
    return "chain-100", profile_model(keras.Model(inputs, x), measure=False), SplitPolicy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    parser.add_argument("--epochs", type=int, default=None, help="train the examples for at most N epochs")
    args = parser.parse_args(argv)
    say = lambda message: print(f"  {message}", file=sys.stderr, flush=True)  # noqa: E731

    worker_macs = BUILTIN_PROFILES["rpi4"].spec.macsPerSecond
    models = list(example_profiles(args.epochs, say)) + [hundred_layer_profile()]
    rows, matches, choice_ms = [], [], {}
    for name, profile, policy in models:
        for board_name, board in BUILTIN_PROFILES.items():
            for link_name, link in LINKS.items():
                outcome, seconds = timed_choice(profile, board, link, policy, worker_macs)
                choice_ms[name] = max(choice_ms.get(name, 0.0), seconds * 1000)
                best = brute_force(profile, board, link, worker_macs, policy.firmwareReserve)
                if isinstance(outcome, str):
                    matches.append(best is None)
                    rows.append([name, board_name, link_name, "none fits", "-", "-", "-", f"{seconds * 1e3:.3f}"])
                    continue
                matches.append(best is not None and abs(outcome.chosen.latency_s - best) <= 1e-12)
                device = outcome.baseline("device-only")
                edge = outcome.baseline("edge-only")
                rows.append([name, board_name, link_name, outcome.layer if outcome.split else "no split",
                             f"{device.latency_s * 1e3:.2f}" + ("" if device.feasible else " (does not fit)"),
                             f"{edge.latency_s * 1e3:.2f}", f"{outcome.chosen.latency_s * 1e3:.2f}",
                             f"{seconds * 1e3:.3f}"])
    headers = ["model", "board", "link", "chosen cut", "device-only ms", "edge-only ms", "chosen ms", "choice ms"]
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    for row in [headers] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    cuts = {name: len(profile.cuts) for name, profile, _ in models}
    print(f"\nvalid cuts per model: {cuts}")
    print(f"slowest choice per model (median of {REPEATS}): "
          + ", ".join(f"{n} {ms:.3f} ms" for n, ms in choice_ms.items()) + " (target < 50 ms for 100 layers)")
    print(f"choices equal to brute force: {sum(matches)}/{len(matches)}")
    if args.json:
        print(json.dumps({"max_choice_ms": round(max(choice_ms.values()), 4),
                          "choice_ms_100_layers": round(choice_ms["chain-100"], 4),
                          "cuts_match_bruteforce": all(matches), "combinations": len(matches),
                          "valid_cuts": cuts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
