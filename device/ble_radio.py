"""Bluetooth LE hosts for the gateway and the virtual boards: Bumble (Google's Python Bluetooth stack).

Bumble is asyncio; the gateway and the board cores are threads. `RadioLoop` runs one event loop on a
daemon thread and lets threads call coroutines on it (`call`). `VirtualAir` is Bumble's in-process
`LocalLink`: virtual controllers on it speak real HCI, link layer, L2CAP, ATT and GATT to each other,
with no radio. Every host on one air must live on the air's loop (the link schedules deliveries with
`call_soon`), which is why the virtual boards and the gateway's central share one `RadioLoop` in one
process. A real adapter is any Bumble HCI transport (`usb:0`, `serial:/dev/ttyACM0`, `hci-socket:0`,
`tcp-client:host:port`): `open_host`.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
from collections.abc import Coroutine
from typing import Any

from specs.errors import DeviceError

CALL_TIMEOUT_S = 30.0


class RadioLoop:
    """An asyncio loop on its own daemon thread; `call` runs a coroutine there and waits for its result."""

    def __init__(self, name: str = "ble-radio") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = CALL_TIMEOUT_S) -> Any:
        if threading.current_thread() is self._thread:
            raise RuntimeError("RadioLoop.call from the loop itself would deadlock; await the coroutine")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start a coroutine on the loop without waiting for it."""
        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class VirtualAir:
    """Virtual controllers on one Bumble LocalLink, all on one RadioLoop."""

    def __init__(self, radio: RadioLoop | None = None) -> None:
        from bumble.link import LocalLink

        self.radio = radio or RadioLoop("ble-virtual-air")
        self.link = LocalLink()
        self._numbers = itertools.count(1)

    def host(self, name: str):
        """A Bumble Device (not powered on) on a new virtual controller with a fresh static address."""
        return self.radio.call(self._host(name))

    async def _host(self, name: str):
        from bumble.controller import Controller
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.transport.common import AsyncPipeSink

        n = next(self._numbers)
        # A static random address: the two top bits set; the rest numbers the hosts on this air.
        address = f"C0:00:00:00:{n >> 8:02X}:{n & 0xFF:02X}"
        controller = Controller(f"virtual-{n}", link=self.link, public_address=address)
        return Device(name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller)))

    def close(self) -> None:
        self.radio.stop()


def open_host(radio: RadioLoop, transport: str, name: str):
    """(Bumble Device, its HCI transport to close) on a real controller through one of Bumble's HCI
    transports (e.g. "usb:0")."""
    return radio.call(_open_host(transport, name), timeout=None)


async def _open_host(transport: str, name: str):
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.transport import open_transport

    try:
        hci = await open_transport(transport)
    except Exception as err:  # Bumble raises its own types, or OSError/usb errors from the OS
        raise DeviceError(f"cannot open the Bluetooth controller {transport!r}: {err}; see docs/ble.md "
                          "for the transports (usb:0, serial:PORT, hci-socket:0, tcp-client:HOST:PORT)") from None
    return Device.with_hci(name, Address(static_address(name)), hci.source, hci.sink), hci


def static_address(name: str) -> str:
    """A static random address (top two bits set) derived from a name: stable across restarts, so a
    board keeps its address, and distinct for distinct names on one controller or link."""
    raw = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    raw[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in raw)
