"""Which board is on which USB serial port: pyserial's port list matched to the DeviceProfile catalogue."""
from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports

from specs.v1alpha1.device_profile import DeviceProfile


@dataclass(frozen=True)
class DetectedPort:
    device: str              # /dev/ttyACM0
    usb: str | None          # "2341:805a"
    profile: str | None      # DeviceProfile name matched by VID:PID
    description: str = ""


def match_usb(vid: int | None, pid: int | None, profiles: dict[str, DeviceProfile]) -> str | None:
    """The DeviceProfile whose USB ids include vid:pid, or None."""
    if vid is None or pid is None:
        return None
    for name, profile in sorted(profiles.items()):
        if any(u.vid == vid and u.pid == pid for u in profile.spec.usb):
            return name
    return None


def detect_ports(profiles: dict[str, DeviceProfile]) -> list[DetectedPort]:
    """Serial ports with a USB id, matched to the catalogue (unknown boards are kept: their hello may say)."""
    found = []
    for port in list_ports.comports():
        if port.vid is None:
            continue
        found.append(DetectedPort(port.device, f"{port.vid:04x}:{port.pid:04x}",
                                  match_usb(port.vid, port.pid, profiles), port.description or ""))
    return found
