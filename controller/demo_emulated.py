"""The demo's emulated Nano 33 BLE Sense: Origami's C device core with TFLM compiled for its Cortex-M4F,
running on QEMU (`mps2-an386`) and attached to a gateway through its serial port, as a USB board is.

The controller cannot tell it from the virtual boards or from hardware: it says hello over the framed
serial protocol, and every model it runs arrives as a signed manifest and chunks that its own C code
verifies (Ed25519, SHA-256), installs into the inactive slot, tries after a reboot and confirms.

The TFLM library (the kernels of the digits CNN) takes about a minute and a half to build cold on two
cores, so it is built on a thread while the controller trains, and cached between demo runs in
`$ORIGAMI_FIRMWARE_CACHE` (default `~/.cache/origami/firmware`), keyed by core, flags, the digests of
the third-party sources, compiler and kernels. Without the toolchain, QEMU or the third-party tree
the demo says so in one line and runs without the emulated board.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from specs.errors import OrigamiError

BOARD = "nano33ble"
DEVICE_ID = "demo-nano33ble-qemu"
# The operators of the example's digits CNN (int8: CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED,
# SOFTMAX); a model with another operator would be refused by the board's trial and rolled back.
OPERATORS = ("CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX")


def firmware_cache() -> Path:
    configured = os.environ.get("ORIGAMI_FIRMWARE_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "origami" / "firmware"


class EmulatedNano:
    """Builds the image on a thread (`start`), then boots QEMU and attaches it to its own gateway."""

    def __init__(self, work: Path, public_key, operators: tuple[str, ...] = OPERATORS) -> None:
        self.work = work
        self.operators = operators
        self.public_key = public_key
        self.cache = firmware_cache()
        self.board = None
        self.gateway = None
        self.error: str | None = None
        self.build_seconds: float | None = None
        self._built = threading.Event()
        self._thread = threading.Thread(target=self._build, name="demo-emulated-build", daemon=True)

    def start(self) -> EmulatedNano:
        print(f"demo: building the emulated Nano 33's firmware in the background (the device core and TFLM's "
              f"{len(self.operators)} kernels for Cortex-M4; cached in {self.cache})", flush=True)
        self._thread.start()
        return self

    def _build(self) -> None:
        from controller.firmware.device_image import build_device_image

        started = time.monotonic()
        try:
            self.image = build_device_image(BOARD, self.public_key, cache_dir=self.cache,
                                            work_dir=self.work / "emulated-nano33ble" / "image",
                                            operators=self.operators)
            self.build_seconds = time.monotonic() - started
        except OrigamiError as err:
            self.error = str(err)
        finally:
            self._built.set()

    def attach(self, broker_url: str, profiles: dict, timeout_s: float = 600.0) -> bool:
        """Wait for the image, boot it and attach it to a gateway; False (said) when it cannot."""
        from controller.firmware.qemu import emulated_board
        from device.gateway import Gateway
        from device.gateway.emulated import QemuBoard

        if not self._built.is_set():
            print("demo: waiting for the emulated Nano 33's firmware build", flush=True)
        if not self._built.wait(timeout_s):
            self.error = f"the firmware build took longer than {timeout_s:.0f}s"
        if self.error:
            print(f"demo: the emulated Nano 33 does not join: {self.error}", flush=True)
            return False
        image = self.image
        print(f"demo: emulated Nano 33 firmware ready in {self.build_seconds:.0f}s: "
              f"{image.image.flash_bytes:,} B flash, {image.image.ram_bytes:,} B RAM "
              f"(tensor arena {image.arena_bytes:,} B), key {image.key_id}", flush=True)
        folder = self.work / "emulated-nano33ble"
        self.board = QemuBoard(emulated_board(BOARD).machine, image.elf, folder, DEVICE_ID)
        port = self.board.start()
        self.gateway = Gateway("demo-gw-qemu", broker_url, profiles, spool=folder / "spool",
                               public_key=self.public_key)
        self.gateway.attach(port)
        print(f"demo: {DEVICE_ID} booted on qemu-system-arm -M {self.board.machine}, attached to gateway "
              f"demo-gw-qemu through {port}", flush=True)
        return True

    def on_board_state(self) -> dict:
        """What the board's own C code reports (a state query over the serial link)."""
        _, state = self.gateway.boards[DEVICE_ID].link.query()
        return state

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.close()
        if self.board is not None:
            self.board.stop()
