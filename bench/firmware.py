"""Firmware figures for a small model (TFLM's sine example) on the emulated Nano 33 (QEMU mps2-an386).

flash_bytes / ram_bytes:  `arm-none-eabi-size` of the image (.text+.rodata+.data / .data+.bss, the
                          reserved arena and an 8 KiB stack included).
arena_device_bytes:       `interpreter.arena_used_bytes()` printed by the device (32-bit pointers).
arena_host_bytes:         `runtimes.tflm.measure_arena` on this host (64-bit), what rendering reserves from.
build_seconds_cold:       the TFLM library (runtime + the model's kernels) compiled into an empty cache,
                          plus the image; build_seconds_cached: the same with the library from the cache.
outputs_bit_exact:        the device's raw output bytes equal the host TFLM interpreter's for every sample.

    .venv/bin/python bench/firmware.py [--cache DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from controller.firmware.qemu import EMULATED_BOARDS
from controller.firmware.qemu import run_on_emulated_board
from runtimes.tflm import measure_arena
from runtimes.tflm import run_tflm
from tests.device_rig import SINE

SAMPLES = np.linspace(0.0, 2 * np.pi, 8, dtype=np.float32).reshape(-1, 1)


def measure(cache_dir: Path, work: Path) -> dict:
    model = SINE.read_bytes()
    arena_host = measure_arena(model).arena_bytes
    samples = [x.tobytes() for x in SAMPLES]
    timings: list[float | None] = []
    for attempt in ("cold", "cached"):
        started = time.monotonic()
        result = run_on_emulated_board(model, "nano33ble", samples, cache_dir=cache_dir, work_dir=work / attempt,
                                       arena_measured=arena_host)
        timings.append(time.monotonic() - started)
        if attempt == "cold" and result.library.cached:
            timings[-1] = None  # --cache held the library already: no cold figure
    host = run_tflm(model, SAMPLES, dequantize=False)
    device = np.stack([np.frombuffer(o, dtype=host.dtype) for o in result.run.outputs]).reshape(host.shape)
    return {
        "boards_on_qemu": sorted(EMULATED_BOARDS), "model": "sine_float.tflite", "samples": len(samples),
        "flash_bytes": result.image.flash_bytes, "ram_bytes": result.image.ram_bytes,
        "arena_device_bytes": result.run.arena_used_bytes, "arena_host_bytes": arena_host,
        "arena_reserved_bytes": result.project.arena_bytes,
        "build_seconds_cold": None if timings[0] is None else round(timings[0], 1),
        "build_seconds_cached": round(timings[1] or 0.0, 2),
        "library_objects": result.library.objects, "outputs_bit_exact": device.tobytes() == host.tobytes(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="TFLM library cache to use "
                        "(default: a fresh one, so the cold build is measured)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="origami-fw-bench-") as tmp:
        figures = measure(Path(args.cache) if args.cache else Path(tmp) / "cache", Path(tmp))
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
