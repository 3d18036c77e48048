"""Firmware figures on the emulated boards (QEMU): TFLM's sine example and the digits int8 CNN.

flash_bytes / ram_bytes:  `arm-none-eabi-size` of the image (.text+.rodata+.data / .data+.bss, the
                          reserved arena and an 8 KiB stack included).
arena_device_bytes:       `interpreter.arena_used_bytes()` printed by the device (32-bit pointers).
arena_host_bytes:         `runtimes.tflm.measure_arena` on this host (64-bit), what rendering reserves from.
build_seconds_cold:       the TFLM library (runtime + the model's kernels) compiled into an empty cache,
                          plus the image; build_seconds_cached: the same with the library from the cache.
outputs_bit_exact:        the device's raw output bytes equal the host TFLM interpreter's for every sample.
boards_on_qemu:           the emulated boards (controller/firmware/qemu.py EMULATED_BOARDS); `boards` has,
                          per board, its QEMU machine and core, linked_flash/ram_bytes (what the image
                          links into: the board's memory, capped at what QEMU maps), the sine image's
                          flash/RAM, the sine model's instructions per inference, bit-exactness.
instructions_per_inference: the digits int8 CNN (examples/digits-mixed, 8 epochs) on the emulated Nano 33,
                          TFLM's reference kernels and CMSIS-NN's: the median over the test split of the
                          instructions the core executed in Invoke(), counted by QEMU (-icount shift=6
                          and the board's 25 MHz timer: an estimate of work, not of cycles). The same
                          run gives digits_accuracy_device (reference, cmsis_nn) against
                          digits_accuracy_host (host TFLM) and digits_outputs_bit_exact.

Model OTA on the device-core image (firmware_templates/device_core/, its C code verifies everything):
ota_model_update_ok:      the signed sine model went MANIFEST -> CHUNKs -> verified -> trial reboot ->
                          INSTALLED over the emulated serial link (QEMU's UART on a pty).
signature_checked_on_device: a manifest whose signature is another key's (under the trusted key id)
                          is refused by the device with SignatureInvalid, no byte sent.
ota_seconds:              MANIFEST sent to INSTALLED received (verification, reboot and probe included).
ota_link_bytes_per_s:     bytes / seconds of a second update padded to 128 KiB (so the link, not the
                          fixed verify-reboot-probe cost, dominates), beside link_nominal_bytes_per_s,
                          what a real 115200-baud UART carries (QEMU's pty does not throttle to a baud rate).
accuracy_device / accuracy_host: share of OTA_TEST inputs (x in [0, 2pi]) whose output is within 0.1
                          of sin(x), the device's outputs obtained over the link (INFER frames);
                          accuracy_outputs_bit_exact: the device's raw bytes equal the host's.

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
from tests.device_rig import model_bytes
from tests.firmware_rig import digits_int8_cnn
from tests.firmware_rig import input_bytes

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


def measure_boards(cache_dir: Path, work: Path) -> dict:
    """The sine model on every emulated board (each core's TFLM library is a cold build the first time)."""
    model = SINE.read_bytes()
    arena_host = measure_arena(model).arena_bytes
    host = run_tflm(model, SAMPLES, dequantize=False)
    boards = {}
    for name, board in sorted(EMULATED_BOARDS.items()):
        result = run_on_emulated_board(model, name, [x.tobytes() for x in SAMPLES], cache_dir=cache_dir,
                                       work_dir=work / f"sine-{name}", arena_measured=arena_host)
        outputs = b"".join(result.run.outputs)
        boards[name] = {"machine": board.machine, "core": board.core, "flash_bytes": result.image.flash_bytes,
                        "ram_bytes": result.image.ram_bytes, "linked_flash_bytes": board.flash_bytes,
                        "linked_ram_bytes": board.ram_bytes,
                        "sine_instructions_per_inference": int(np.median(result.run.instructions)),
                        "outputs_bit_exact": outputs == host.tobytes(), "note": board.note or None}
    return {"boards": boards}


def measure_digits(cache_dir: Path, work: Path) -> dict:
    """The digits int8 CNN's test split on the emulated Nano 33, reference kernels and CMSIS-NN."""
    model, x, y = digits_int8_cnn()
    arena_host = measure_arena(model).arena_bytes
    host = run_tflm(model, x, arena_host, dequantize=False)
    runs = {kernels: run_on_emulated_board(model, "nano33ble", input_bytes(model, x), cache_dir=cache_dir,
                                           work_dir=work / f"digits-{kernels}", arena_measured=arena_host,
                                           kernel_set=kernels, timeout_s=300)
            for kernels in ("reference", "cmsis_nn")}
    device = {k: np.stack([np.frombuffer(o, dtype=host.dtype) for o in r.run.outputs]).reshape(host.shape)
              for k, r in runs.items()}
    return {
        "instructions_per_inference": {
            "model": "digits int8 CNN (examples/digits-mixed)", "board": "nano33ble", "samples": len(x),
            **{k: int(np.median(r.run.instructions)) for k, r in runs.items()},
            "what": "instructions executed in Invoke(), counted by QEMU -icount (an estimate, not cycles)"},
        "digits_model_bytes": len(model),
        "digits_flash_bytes": {k: r.image.flash_bytes for k, r in runs.items()},
        "digits_arena_device_bytes": {k: r.run.arena_used_bytes for k, r in runs.items()},
        "digits_arena_host_bytes": arena_host,
        "digits_accuracy_device": {k: float(np.mean(np.argmax(d, axis=1) == y)) for k, d in device.items()},
        "digits_accuracy_host": float(np.mean(np.argmax(host, axis=1) == y)),
        "digits_outputs_bit_exact": {k: d.tobytes() == host.tobytes() for k, d in device.items()},
    }


OTA_TEST = np.linspace(0.0, 2 * np.pi, 64, dtype=np.float32).reshape(-1, 1)
LINK_NOMINAL_BYTES_PER_S = 115200 // 10  # 8N1: ten bits a byte


def measure_ota(cache_dir: Path, work: Path) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from controller.devices.signing import Signer
    from controller.firmware.device_image import build_device_image
    from device.gateway.emulated import QemuBoard
    from device.gateway.serial_link import BoardLink
    from device.serial_frames import AckStatus
    from device.serial_frames import signed_manifest_payload
    from specs.v1alpha1.protocol import Manifest
    from specs.v1alpha1.protocol import Target
    from specs.v1alpha1.protocol import sha256_hex

    signer = Signer(Ed25519PrivateKey.generate())
    image = build_device_image("nano33ble", signer.public_key, cache_dir=cache_dir, work_dir=work / "ota-image")
    model = SINE.read_bytes()
    manifest = Manifest(name="sine", version="1", digest=sha256_hex(model), size=len(model),
                        target=Target(runtime="tflm", precision="float32", board="nano33ble"))
    forged = Signer(Ed25519PrivateKey.generate()).sign(manifest).model_copy(update={"keyId": signer.key_id})
    board = QemuBoard(image.board.machine, image.elf, work / "ota-board", "nano33-bench")
    board.start()
    link = BoardLink(board.port)
    try:
        link.query()
        refused = link.send_model(signed_manifest_payload(forged), model)
        started = time.monotonic()
        outcome = link.send_model(signed_manifest_payload(signer.sign(manifest)), model)
        seconds = time.monotonic() - started
        device = [link.infer(x.tobytes())[0] for x in OTA_TEST]
        # Throughput: a model padded to 128 KiB (a flatbuffer ignores trailing bytes), so the link, not
        # the fixed cost of verifying, rebooting and probing, dominates.
        large = model_bytes(padding=128 * 1024 - len(model))
        large_manifest = manifest.model_copy(update={"version": "2", "digest": sha256_hex(large), "size": len(large)})
        started = time.monotonic()
        large_outcome = link.send_model(signed_manifest_payload(signer.sign(large_manifest)), large)
        large_seconds = time.monotonic() - started
    finally:
        link.close()
        board.stop()
    host = run_tflm(model, OTA_TEST, dequantize=False)
    on_device = np.frombuffer(b"".join(device), dtype=host.dtype).reshape(host.shape)
    truth = np.sin(OTA_TEST)
    return {
        "ota_model_update_ok": outcome.status is AckStatus.INSTALLED and large_outcome.status is AckStatus.INSTALLED,
        "signature_checked_on_device": refused.status is AckStatus.REFUSED
        and [e["reason"] for e in refused.events] == ["SignatureInvalid"],
        "ota_seconds": round(seconds, 3), "ota_bytes": len(model),
        "ota_large_bytes": len(large), "ota_large_seconds": round(large_seconds, 3),
        "ota_link_bytes_per_s": round(len(large) / large_seconds), "link_nominal_bytes_per_s": LINK_NOMINAL_BYTES_PER_S,
        "ota_image_flash_bytes": image.image.flash_bytes, "ota_image_ram_bytes": image.image.ram_bytes,
        "ota_arena_bytes": image.arena_bytes, "accuracy_samples": len(OTA_TEST),
        "accuracy_device": float(np.mean(np.abs(on_device - truth) < 0.1)),
        "accuracy_host": float(np.mean(np.abs(host - truth) < 0.1)),
        "accuracy_outputs_bit_exact": on_device.tobytes() == host.tobytes(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="TFLM library cache to use "
                        "(default: a fresh one, so the cold build is measured)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="origami-fw-bench-") as tmp:
        cache = Path(args.cache) if args.cache else Path(tmp) / "cache"
        figures = measure(cache, Path(tmp))
        figures.update(measure_boards(cache, Path(tmp)))
        figures.update(measure_digits(cache, Path(tmp)))
        figures.update(measure_ota(cache, Path(tmp)))
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
