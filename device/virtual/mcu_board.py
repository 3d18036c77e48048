"""A virtual microcontroller behind a pseudo-terminal, speaking the serial protocol.

The board's logic (TFLM, slots, signature and digest checks) is `mcu_core.McuCore`; this module is
the serial cable: the gateway opens `port` with pyserial, real serial I/O.
"""
from __future__ import annotations

import os
import select
import threading
import tty

from device.virtual.mcu_core import SERIAL_RX_BYTES
from device.virtual.mcu_core import Faults
from device.virtual.mcu_core import McuCore
from device.virtual.mcu_core import ram_budget

__all__ = ["SERIAL_RX_BYTES", "Faults", "VirtualMCU", "ram_budget"]


class VirtualMCU(McuCore):
    """One virtual board; `start()` runs it on a thread, `port` is the path the gateway opens."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # bytes pass untouched: no echo, no newline translation
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writing = threading.Lock()  # a frame is written whole: the sampler and the protocol both send

    def start(self) -> VirtualMCU:
        self._thread = threading.Thread(target=self._run, name=f"virtual-mcu-{self.device_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> VirtualMCU:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            self.receive(data)

    def _send(self, frame: bytes) -> None:
        view = memoryview(frame)
        with self._writing:
            while view:
                _, writable, _ = select.select([], [self._master], [], 1.0)
                if writable:
                    view = view[os.write(self._master, view):]
