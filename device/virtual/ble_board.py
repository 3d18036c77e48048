"""A virtual microcontroller on Bluetooth LE: the same device core as `VirtualMCU`, over GATT.

A Bumble peripheral on a virtual controller (`device.ble_radio.VirtualAir`) advertises the Origami
service (`device.ble_service`) with its name, and after a connection takes frame bytes written to
RX and notifies its own frames on TX, cut to the connection's ATT MTU. The core (TFLM, slots,
signature and digest checks) runs on a worker thread so an install never stalls the radio loop,
which the gateway's central may share.
"""
from __future__ import annotations

import queue
import threading

from device.ble_radio import RadioLoop
from device.ble_radio import VirtualAir
from device.ble_radio import open_host
from device.ble_service import RX_UUID
from device.ble_service import SERVICE_UUID
from device.ble_service import TX_UUID
from device.ble_service import advertising_data
from device.ble_service import scan_response_data
from device.ble_service import segments
from device.serial_frames import Frame
from device.serial_frames import FrameType
from device.virtual.mcu_core import McuCore
from wire.logs import get_logger

log = get_logger("agent.virtual_ble")


class VirtualBleBoard(McuCore):
    """One virtual board advertising on `air` (or on a controller behind a Bumble HCI transport, e.g.
    `tcp-client:127.0.0.1:PORT` to a virtual controller in another process); `start()` powers it on."""

    def __init__(self, *args, air: VirtualAir | None = None, hci_transport: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if (air is None) == (hci_transport is None):
            raise ValueError("a virtual BLE board needs either an air or an HCI transport")
        self.air = air
        self.hci_transport = hci_transport
        self.radio = air.radio if air else RadioLoop(f"ble-board-{self.device_id}")
        self._hci = None
        self.connections = 0          # connections accepted (observable: a reconnection counts)
        self._connection = None
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name=f"virtual-ble-{self.device_id}", daemon=True)
        self._chunks_seen = 0

    def start(self) -> VirtualBleBoard:
        if self.air is not None:
            self.host = self.air.host(self.device_id)
        else:
            self.host, self._hci = open_host(self.radio, self.hci_transport, self.device_id)
        self.radio.call(self._power_on())
        self._worker.start()
        return self

    async def _power_on(self) -> None:
        from bumble.core import UUID
        from bumble.gatt import Characteristic
        from bumble.gatt import CharacteristicValue
        from bumble.gatt import Service

        props = Characteristic.Properties
        self._tx = Characteristic(UUID(TX_UUID), props.NOTIFY, Characteristic.READABLE, b"")
        rx = Characteristic(UUID(RX_UUID), props.WRITE | props.WRITE_WITHOUT_RESPONSE, Characteristic.WRITEABLE,
                            CharacteristicValue(write=lambda connection, value: self._inbox.put(bytes(value))))
        self.host.add_service(Service(UUID(SERVICE_UUID), [rx, self._tx]))
        self.host.on("connection", self._on_connection)
        await self.host.power_on()
        # auto_restart: advertise again as soon as a connection ends, so the gateway can come back.
        await self.host.start_advertising(advertising_data=advertising_data(self.device_id),
                                          scan_response_data=scan_response_data(self.device_id), auto_restart=True)

    def _on_connection(self, connection) -> None:
        self.connections += 1
        self._connection = connection
        self._inbox.put(None)  # a new connection is a new byte stream: drop any half-received frame
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection) -> None:
        if self._connection is connection:
            self._connection = None

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(timeout=10)
        try:
            self.radio.call(self.host.power_off(), timeout=5)
            if self._hci is not None:
                self.radio.call(self._hci.close(), timeout=5)
        except Exception as err:  # the air may already be gone: nothing left to switch off
            log.debug("virtual BLE board power off failed", extra={"device": self.device_id, "error": str(err)})
        if self.air is None:
            self.radio.stop()

    def __enter__(self) -> VirtualBleBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def drop_link(self) -> None:
        """Cut the current connection (the board walked out of range); it advertises again at once."""
        connection = self._connection
        if connection is not None:
            self.radio.call(connection.disconnect())

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            if data is None:
                self.decoder.buffer.clear()
            else:
                self.receive(data)

    def _handle(self, frame: Frame) -> None:
        if frame.type is FrameType.CHUNK and self.faults.drop_link_after_chunks:
            self._chunks_seen += 1
            if self._chunks_seen >= self.faults.drop_link_after_chunks:
                self.faults.drop_link_after_chunks = 0
                self.drop_link()
                return  # the chunk went down with the link
        super()._handle(frame)

    def _send(self, frame: bytes) -> None:
        connection = self._connection
        if connection is None:
            return  # nobody subscribed: a real board's notifications would go nowhere too
        try:
            self.radio.call(self._notify(connection, frame))
        except Exception as err:  # the link dropped mid-frame: the gateway's ack timeout covers it
            log.info("notification lost", extra={"device": self.device_id, "error": str(err)[:200]})

    async def _notify(self, connection, frame: bytes) -> None:
        for segment in segments(frame, connection.att_mtu):
            await self.host.notify_subscriber(connection, self._tx, segment)
