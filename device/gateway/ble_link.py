"""Boards on Bluetooth LE: the gateway as a GATT client (central) of the Origami service (docs/ble.md).

`BleCentral` scans for boards advertising the service; `open` connects to one, exchanges the ATT MTU,
finds RX/TX and subscribes to TX, and returns a `GattStream`: a byte stream like a serial port, which
`BoardLink` frames exactly as it frames serial (same decoder, same transfer logic). A dropped
connection is re-established in the background; meanwhile writes wait a little and are then dropped,
and `BoardLink`'s ack timeout resends from the board's own offset, so a cut transfer resumes where it
stopped instead of starting over.
"""
from __future__ import annotations

import asyncio
import queue
from dataclasses import dataclass
from typing import Any

from device.ble_radio import RadioLoop
from device.ble_radio import VirtualAir
from device.ble_radio import open_host
from device.ble_service import RX_UUID
from device.ble_service import SERVICE_UUID
from device.ble_service import TX_UUID
from device.ble_service import parse_advertising
from device.ble_service import segments
from specs.errors import DeviceError
from wire.ble_air import CONNECTION_INTERVAL_MS
from wire.ble_air import DEFAULT_ATT_MTU
from wire.ble_air import PREFERRED_ATT_MTU
from wire.ble_air import SUPERVISION_TIMEOUT_MS
from wire.logs import get_logger

log = get_logger("gateway.ble")

CONNECT_TIMEOUT_S = 10.0
RECONNECT_WAIT_S = 3.0       # how long a write waits for a dropped link to come back before it is dropped
RECONNECT_BACKOFF_S = (0.2, 5.0)


@dataclass(frozen=True)
class FoundBoard:
    """A board seen advertising the Origami service."""

    address: Any                 # bumble.hci.Address
    name: str | None             # its device id, or the start of it (the hello says the rest)

    @property
    def label(self) -> str:
        return str(self.address)


class BleCentral:
    """The gateway's Bluetooth LE host: one per adapter (or per virtual air)."""

    def __init__(self, radio: RadioLoop, host, transport=None) -> None:
        self.radio = radio
        self.host = host
        self.transport = transport  # a real adapter's HCI transport: closed with the central, and its loop
        self.streams: list[GattStream] = []
        self._connecting = radio.call(self._power_on())

    @classmethod
    def virtual(cls, air: VirtualAir) -> BleCentral:
        """A central on the in-process virtual air, beside the virtual boards."""
        return cls(air.radio, air.host("origami-gateway"))

    @classmethod
    def on_adapter(cls, transport: str) -> BleCentral:
        """A central on a real controller through a Bumble HCI transport, e.g. "usb:0"."""
        radio = RadioLoop("ble-adapter")
        host, hci = open_host(radio, transport, "origami-gateway")
        return cls(radio, host, hci)

    async def _power_on(self) -> asyncio.Lock:
        await self.host.power_on()
        return asyncio.Lock()  # Bumble connects one at a time: reconnections queue behind each other

    def scan(self, seconds: float, *, stop_after: int | None = None) -> list[FoundBoard]:
        """Boards advertising the Origami service within `seconds` (fewer when `stop_after` were found)."""
        return self.radio.call(self._scan(seconds, stop_after), timeout=seconds + CONNECT_TIMEOUT_S)

    async def _scan(self, seconds: float, stop_after: int | None) -> list[FoundBoard]:
        found: dict[str, FoundBoard] = {}
        enough = asyncio.Event()

        def on_advertisement(advertisement) -> None:
            said = parse_advertising(advertisement.data_bytes)
            key = str(advertisement.address)
            known = found.get(key)
            if not said.origami and known is None:
                return  # not ours (a scan response only counts for a board already seen)
            name = said.name if said.complete_name or known is None or known.name is None else known.name
            found[key] = FoundBoard(advertisement.address, name)
            if stop_after and len(found) >= stop_after:
                enough.set()

        self.host.on("advertisement", on_advertisement)
        await self.host.start_scanning(filter_duplicates=False)
        try:
            await asyncio.wait_for(enough.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self.host.remove_listener("advertisement", on_advertisement)
            await self.host.stop_scanning()
        return sorted(found.values(), key=lambda b: b.label)

    def open(self, board: FoundBoard) -> GattStream:
        """Connect to a board and return its byte stream; DeviceError when it cannot be reached."""
        stream = GattStream(self, board)
        self.radio.call(stream.connect(), timeout=CONNECT_TIMEOUT_S * 2)
        self.streams.append(stream)
        return stream

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
        try:
            self.radio.call(self.host.power_off(), timeout=5)
            if self.transport is not None:
                self.radio.call(self.transport.close(), timeout=5)
        except Exception as err:  # already off or the loop is gone: nothing to release
            log.debug("BLE central power off failed", extra={"error": str(err)})
        if self.transport is not None:
            self.radio.stop()  # on_adapter made this loop; a virtual air's loop belongs to the air


class GattStream:
    """One board's RX/TX characteristics as a ByteStream (device.gateway.serial_link)."""

    transport = "ble"

    def __init__(self, central: BleCentral, board: FoundBoard) -> None:
        self.central = central
        self.board = board
        self.name = f"ble:{board.label}"
        self.mtu = DEFAULT_ATT_MTU
        self.reconnects = 0
        self.bytes_written = self.segments_written = 0   # stream bytes and ATT writes (for wire figures)
        self.bytes_read = self.segments_read = 0         # stream bytes and ATT notifications
        self._incoming: queue.Queue[bytes | None] = queue.Queue()
        self._connection = None
        self._peer = None
        self._rx = None
        self._closed = False
        self._up: asyncio.Event | None = None  # made on the radio loop
        self._reconnecting: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def connect(self) -> None:
        from bumble.core import UUID
        from bumble.device import ConnectionParametersPreferences
        from bumble.device import Peer
        from bumble.hci import HCI_LE_1M_PHY

        if self._up is None:
            self._up = asyncio.Event()
        preferences = ConnectionParametersPreferences(
            connection_interval_min=CONNECTION_INTERVAL_MS, connection_interval_max=CONNECTION_INTERVAL_MS,
            max_latency=0, supervision_timeout=SUPERVISION_TIMEOUT_MS)
        try:
            async with self.central._connecting:
                connection = await self.central.host.connect(
                    self.board.address, connection_parameters_preferences={HCI_LE_1M_PHY: preferences},
                    timeout=CONNECT_TIMEOUT_S)
        except Exception as err:  # Bumble's ConnectionError, a timeout, a controller error
            raise DeviceError(f"cannot connect to the board at {self.board.label}: {err}") from None
        peer = Peer(connection)
        try:
            mtu = await peer.request_mtu(PREFERRED_ATT_MTU)
            await peer.discover_services([UUID(SERVICE_UUID)])
            await peer.discover_characteristics()
            rx = peer.get_characteristics_by_uuid(UUID(RX_UUID))
            tx = peer.get_characteristics_by_uuid(UUID(TX_UUID))
            if rx and tx:
                await peer.subscribe(tx[0], self._on_notification)
        except Exception as err:  # the link dropped while setting up: a reconnection tries again
            raise DeviceError(f"the board at {self.board.label} went away while connecting: {err}") from None
        if not rx or not tx:
            await connection.disconnect()
            raise DeviceError(f"the device at {self.board.label} advertises the Origami service but has no "
                              "RX/TX characteristics: is it running Origami firmware?")
        self._incoming.put(None)  # a new connection: whatever half-frame was pending is gone
        self.mtu, self._peer, self._rx, self._connection = mtu, peer, rx[0], connection
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, reason))
        self._up.set()
        log.info("BLE board connected", extra={"board": self.board.label, "mtu": mtu,
                                               "interval_ms": connection.parameters.connection_interval})

    def _on_notification(self, value: bytes) -> None:
        self.bytes_read += len(value)
        self.segments_read += 1
        self._incoming.put(bytes(value))

    def _on_disconnection(self, connection, reason: int) -> None:
        if self._connection is not connection:
            return
        self._connection = self._peer = self._rx = None
        if self._up is not None:
            self._up.clear()
        if self._closed:
            return
        log.warning("BLE board disconnected, reconnecting", extra={"board": self.board.label, "reason": reason})
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())  # held: tasks are weak

    async def _reconnect(self) -> None:
        delay, longest = RECONNECT_BACKOFF_S
        while not self._closed and self._connection is None:
            try:
                await self.connect()
            except DeviceError as err:
                log.info("BLE reconnect failed, retrying", extra={"board": self.board.label, "error": str(err)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
            else:
                self.reconnects += 1

    # --- ByteStream ------------------------------------------------------------------------

    def read(self) -> bytes | None:
        if self._closed:
            raise OSError(f"BLE link to {self.board.label} closed")
        try:
            return self._incoming.get(timeout=0.1)
        except queue.Empty:
            return b""

    def write(self, data: bytes) -> None:
        try:
            self.central.radio.call(self._write(data), timeout=RECONNECT_WAIT_S + 30)
        except Exception as err:  # the link dropped mid-write: BoardLink's ack timeout resends
            log.info("BLE write lost", extra={"board": self.board.label, "error": str(err)[:200]})

    async def _write(self, data: bytes) -> None:
        if self._connection is None:
            try:
                await asyncio.wait_for(self._up.wait(), RECONNECT_WAIT_S)
            except TimeoutError:
                return  # still down: like bytes into an unplugged cable
        peer, rx = self._peer, self._rx
        for segment in segments(data, self.mtu):
            await peer.write_value(rx, segment, with_response=False)
            self.bytes_written += len(segment)
            self.segments_written += 1

    def close(self) -> None:
        self._closed = True
        connection = self._connection
        if connection is not None:
            try:
                self.central.radio.call(connection.disconnect(), timeout=5)
            except Exception as err:  # already gone
                log.debug("BLE disconnect failed", extra={"board": self.board.label, "error": str(err)})
