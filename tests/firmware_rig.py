"""Helpers for the tests that run the device core on an emulated Nano 33 (QEMU)."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from device.gateway.emulated import QemuBoard
from device.gateway.serial_link import BoardLink

NANO33_MACHINE = "mps2-an386"


def firmware_tools_missing() -> str | None:
    """Why the firmware tests cannot run here, or None."""
    if not (shutil.which("arm-none-eabi-g++") and shutil.which("qemu-system-arm")):
        return "needs gcc-arm-none-eabi and qemu-system-arm (scripts/system-packages.sh)"
    from controller.firmware.tflm_library import third_party_root
    from specs.errors import StageError

    try:
        third_party_root()
    except StageError as err:
        return str(err)
    return None


def skip_without_firmware_tools() -> None:
    why = firmware_tools_missing()
    if why:
        pytest.skip(why)


@contextmanager
def emulated_nano33(elf: Path, folder: Path, device_id: str = "nano33-qemu-0"):
    """A booted emulated Nano 33 and a serial link to it."""
    board = QemuBoard(NANO33_MACHINE, elf, folder, device_id)
    board.start()
    link = BoardLink(board.port)
    try:
        yield board, link
    finally:
        link.close()
        board.stop()
