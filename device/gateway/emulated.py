"""An emulated board: `qemu-system-arm` running a device-core image with its UART on a pseudo-terminal,
so the gateway opens it like a USB serial port. The board's flash (model slots) is a file in its
folder that the firmware reads and writes through semihosting, so it survives a reset inside QEMU and
a restart of QEMU on a new image (the emulated board's flasher)."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from specs.errors import DeviceError
from wire.logs import get_logger

log = get_logger("gateway.emulated")

START_TIMEOUT_S = 20.0
_PTY = re.compile(r"char device redirected to (/dev/pts/\d+)")
_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STORAGE_FILE = "origami-flash.bin"   # the firmware's name for it (origami_hal_qemu.c)
MICROPHONE_FILE = "origami-microphone.pcm"  # the emulated microphone's stream (origami_microphone.c)


# QEMU's instruction counting (controller/firmware/qemu.py ICOUNT_SHIFT, kept equal): the board's tick
# counter (CMSDK timer 0), so the cycles INFER_RESULT reports, then follows executed instructions.
ICOUNT = ("-icount", "shift=6,align=off,sleep=off")


def qemu_board_command(machine: str, elf: Path, device_id: str, icount: bool = False) -> list[str]:
    """UART on a pty; semihosting for the flash file and the device id (its second argument)."""
    return ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "pty",
            "-semihosting-config", f"enable=on,target=native,arg=origami,arg={device_id}",
            *(ICOUNT if icount else ()), "-kernel", str(elf)]


class QemuBoard:
    """One emulated board process. `start()` returns the pty path; `restart(elf)` flashes a new image."""

    def __init__(self, machine: str, elf: str | Path, folder: str | Path, device_id: str, *,
                 icount: bool = False) -> None:
        if not _DEVICE_ID.match(device_id):
            raise DeviceError(f"emulated board id {device_id!r} is not a DNS label of lower-case letters, digits, '-'")
        self.machine = machine
        self.elf = Path(elf)
        self.folder = Path(folder)
        self.device_id = device_id
        self.icount = icount
        self.port: str | None = None
        self._process: subprocess.Popen | None = None
        self._output: deque[str] = deque(maxlen=50)

    @property
    def storage(self) -> Path:
        return self.folder / STORAGE_FILE

    def hear(self, pcm: bytes) -> None:
        """Sound reaching the board's microphone: little-endian int16 PCM at 16 kHz, appended to the file
        the firmware reads; every complete second becomes a SAMPLES frame from the board."""
        if len(pcm) % 2:
            raise DeviceError("PCM for the emulated microphone is whole int16 samples")
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / MICROPHONE_FILE, "ab") as stream:
            stream.write(pcm)

    def start(self) -> str:
        if not shutil.which("qemu-system-arm"):
            raise DeviceError("qemu-system-arm is not on PATH; install qemu-system-arm (scripts/system-packages.sh)")
        if not self.elf.is_file():
            raise DeviceError(f"no firmware image at {self.elf.name} for the emulated board {self.device_id}")
        self.folder.mkdir(parents=True, exist_ok=True)
        command = qemu_board_command(self.machine, self.elf.resolve(), self.device_id, self.icount)
        self._process = subprocess.Popen(command,
                                         cwd=self.folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, errors="replace")
        found: list[str] = []
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(self._process, found, ready), daemon=True,
                         name=f"qemu-{self.device_id}").start()
        if not ready.wait(START_TIMEOUT_S) or not found:
            self.stop()
            raise DeviceError(f"the emulated board {self.device_id} did not open its serial port within "
                              f"{START_TIMEOUT_S:.0f} s: {' | '.join(self._output)[-300:]}")
        self.port = found[0]
        log.info("emulated board started", extra={"device": self.device_id, "machine": self.machine,
                                                  "port": self.port, "pid": self._process.pid})
        return self.port

    def recent_output(self, lines: int = 5) -> list[str]:
        """QEMU's last lines (its own messages and semihosting output): what to show when a board misbehaves."""
        return list(self._output)[-lines:]

    def _drain(self, process: subprocess.Popen, found: list[str], ready: threading.Event) -> None:
        """Read QEMU's output for the pty line, then keep reading so QEMU never blocks on a full pipe."""
        assert process.stdout is not None
        for line in process.stdout:
            self._output.append(line.strip())
            match = _PTY.search(line)
            if match and not ready.is_set():
                found.append(match.group(1))
                ready.set()
        ready.set()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self, elf: str | Path | None = None) -> str:
        """Stop QEMU and boot it again (on `elf` when given): the flash file, and so the slots, stay."""
        self.stop()
        if elf is not None:
            self.elf = Path(elf)
        time.sleep(0.1)  # let the old pty close before a new one is allocated
        return self.start()

    def __enter__(self) -> QemuBoard:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def flash_emulated(board: QemuBoard, elf: str | Path, gateway=None) -> str:
    """The emulated board's flasher: QEMU restarts on the new image (the slots in its flash file stay);
    a gateway that carries the board reopens the new port. The new port."""
    port = board.restart(elf)
    if gateway is not None:
        gateway.reattach(board.device_id, port)
    return port
