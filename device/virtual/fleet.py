"""A mixed virtual fleet for the demo and the reconciler's tests: virtual Linux boards (the real
device agent) and virtual microcontrollers behind a pty, bridged to MQTT by one Gateway, plus a
listener that counts the installs devices announce (their `Installed` events), per device.
Microcontrollers of the boards named in `ble` are on Bluetooth LE instead (a virtual air in this
process, the gateway as their GATT central: docs/ble.md).

    fleet = VirtualFleet(url, root, signer.public_key, {"rpi4": 8, "nano33ble": 3}).start()
    fleet.installs()  # {"vf-rpi4-00": [(version, digest), ...], ...}
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from wire.logs import get_logger

log = get_logger("virtual_fleet")


class VirtualFleet:
    def __init__(self, url: str, root: str | Path, public_key: Ed25519PublicKey, boards: dict[str, int], *,
                 prefix: str = "vf", profiles: dict | None = None, labels: dict[str, str] | None = None,
                 ble: tuple[str, ...] = ()) -> None:
        self.url = url
        self.root = Path(root)
        self.public_key = public_key
        self.profiles = dict(BUILTIN_PROFILES) | dict(profiles or {})
        self.plan = [(board, f"{prefix}-{board}-{i:02d}".lower().replace("_", "-"))
                     for board, count in boards.items() for i in range(count)]
        self.prefix = prefix
        self.labels = dict(labels or {})
        self.linux: dict[str, object] = {}  # device id -> VirtualLinuxBoard
        self.mcus: dict[str, object] = {}  # device id -> VirtualMCU or VirtualBleBoard
        self.ble = tuple(ble)
        self._air = None      # VirtualAir and its BleCentral, made with the first BLE board
        self._central = None
        self.gateway = None
        self._listener = None
        self._lock = threading.Lock()
        self._installs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._events: list[tuple[str, str, str]] = []  # (device, reason, digest) in arrival order

    @property
    def device_ids(self) -> list[str]:
        return [device_id for _, device_id in self.plan]

    def board_of(self, device_id: str) -> str:
        return next(board for board, d in self.plan if d == device_id)

    def start(self, progress: Callable[[int, int], None] | None = None) -> VirtualFleet:
        from device.gateway import Gateway
        from device.virtual.linux_board import VirtualLinuxBoard
        from device.virtual.mcu_board import VirtualMCU
        from wire.mqtt import MqttLink

        self._listener = MqttLink(f"{self.prefix}-install-counter", self.url)
        self._listener.subscribe("origami/v1/devices/+/events", self._on_event)
        self._listener.start()
        for index, (board, device_id) in enumerate(self.plan):
            profile = self.profiles[board]
            if profile.spec.family == "linux":
                self.linux[device_id] = VirtualLinuxBoard(device_id, self.url, self.root / device_id, self.public_key,
                                                          profile=board, labels=self.labels).start()
            else:
                if self.gateway is None:
                    self.gateway = Gateway(f"{self.prefix}-gateway", self.url, self.profiles,
                                           spool=self.root / "gateway-spool", public_key=self.public_key)
                if board in self.ble:
                    self._attach_ble(profile, board, device_id)
                else:
                    mcu = VirtualMCU(profile, device_id, self.root / device_id, self.public_key).start()
                    self.mcus[device_id] = mcu
                    self.gateway.attach(mcu.port, profile=board)
            if progress is not None:
                progress(index + 1, len(self.plan))
        return self

    def _attach_ble(self, profile, board: str, device_id: str) -> None:
        from device.ble_radio import VirtualAir
        from device.gateway import BoardLink
        from device.gateway.ble_link import BleCentral
        from device.virtual.ble_board import VirtualBleBoard

        if self._air is None:
            self._air = VirtualAir()
            self._central = BleCentral.virtual(self._air)
        self.mcus[device_id] = VirtualBleBoard(profile, device_id, self.root / device_id, self.public_key,
                                               air=self._air).start()
        opened = {stream.board.label for stream in self._central.streams}  # connected boards stop advertising
        fresh = [found for found in self._central.scan(10, stop_after=1) if found.label not in opened]
        self.gateway.attach_link(BoardLink(self._central.open(fresh[0])), profile=board)

    def stop(self) -> None:
        for board in self.linux.values():
            board.stop()
        if self.gateway is not None:
            self.gateway.close()
        for mcu in self.mcus.values():
            mcu.stop()
        if self._central is not None:
            self._central.close()
            self._air.close()
        if self._listener is not None:
            self._listener.stop()

    # --- faults ----------------------------------------------------------------------------------
    def fail_health(self, device_id: str, failing: bool = True) -> None:
        """Make this device's next health check fail (it must roll back)."""
        if device_id in self.linux:
            self.linux[device_id].faults.fail_health = failing
        else:
            self.mcus[device_id].faults.fail_health_check = failing

    # --- what devices said -----------------------------------------------------------------------
    def _on_event(self, topic: str, payload: bytes) -> None:
        from specs.v1alpha1.protocol import Event
        from specs.v1alpha1.protocol import decode

        try:
            event = decode(Event, payload)
        except ValueError:
            return
        with self._lock:
            self._events.append((event.deviceId, event.reason, event.digest or ""))
            if event.reason == "Installed":
                self._installs[event.deviceId].append(("", event.digest or ""))

    def installs(self) -> dict[str, list[str]]:
        """Device id -> digests it installed, in order (from the devices' own `Installed` events)."""
        with self._lock:
            return {d: [digest for _, digest in items] for d, items in self._installs.items()}

    def events(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._events)

    def running(self) -> dict[str, str | None]:
        """Device id -> digest of the model it runs now (read from the device itself)."""
        out: dict[str, str | None] = {}
        for device_id, board in self.linux.items():
            manifest = board.agent.slots.active_manifest()
            out[device_id] = manifest.digest if manifest else None
        for device_id, mcu in self.mcus.items():
            active = mcu.active_model()
            out[device_id] = active["digest"] if active else None
        return out
