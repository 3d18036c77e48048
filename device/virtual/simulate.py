"""`origami simulate`: a fleet of virtual devices on one broker, for demos, tests and benches.

Device kinds are registered by name; "linux" (the real agent on a temporary disk) is built in,
and the serial-gateway side registers its virtual microcontrollers with `register_device_kind`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.virtual.linux_board import Faults
from device.virtual.linux_board import VirtualLinuxBoard
from specs.errors import UsageError
from wire.logs import get_logger
from wire.mqtt import BrokerConnection

log = get_logger("simulate")


class VirtualDevice(Protocol):
    device_id: str

    def start(self, timeout: float | None = 10.0) -> VirtualDevice: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class DeviceSpec:
    """One virtual device to start: everything a factory needs."""

    device_id: str
    board: str
    url: str | BrokerConnection
    disk: Path
    public_key: Ed25519PublicKey
    labels: dict[str, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    credentials: tuple[str, str] | None = None


Factory = Callable[[DeviceSpec], VirtualDevice]
_KINDS: dict[str, Factory] = {}


def register_device_kind(kind: str, factory: Factory) -> None:
    """Add a kind of virtual device (e.g. "mcu" from the gateway side) for `--kind`."""
    _KINDS[kind] = factory


def device_kinds() -> list[str]:
    return sorted(_KINDS)


def _linux(spec: DeviceSpec) -> VirtualDevice:
    user, password = spec.credentials or (None, None)
    return VirtualLinuxBoard(spec.device_id, spec.url, spec.disk, spec.public_key, profile=spec.board,
                             labels=spec.labels, faults=spec.faults, username=user, password=password)


register_device_kind("linux", _linux)


def fleet_specs(count: int, url: str | BrokerConnection, root: Path, public_key: Ed25519PublicKey, *, boards: list[str],
                labels: dict[str, str] | None = None, prefix: str = "sim", faults: Faults | None = None,
                credentials: dict[str, str] | None = None) -> list[DeviceSpec]:
    """`count` devices named {prefix}-0000..., boards assigned round-robin."""
    if count < 1:
        raise UsageError("--fleet must be at least 1")
    if not boards:
        raise UsageError("give at least one --board")
    specs = []
    for index in range(count):
        device_id = f"{prefix}-{index:04d}"
        password = (credentials or {}).get(device_id)
        specs.append(DeviceSpec(device_id, boards[index % len(boards)], url, Path(root) / device_id, public_key,
                                dict(labels or {}), faults or Faults(),
                                (device_id, password) if password else None))
    return specs


def start_fleet(specs: list[DeviceSpec], kind: str = "linux",
                progress: Callable[[int, int], None] | None = None) -> list[VirtualDevice]:
    if kind not in _KINDS:
        raise UsageError(f"unknown device kind '{kind}'; known: {', '.join(device_kinds())}")
    devices = []
    try:
        for index, spec in enumerate(specs):
            devices.append(_KINDS[kind](spec).start(timeout=None))
            if progress is not None:
                progress(index + 1, len(specs))
    except BaseException:
        stop_fleet(devices)
        raise
    return devices


def stop_fleet(devices: list[VirtualDevice]) -> None:
    for device in devices:
        device.stop()
