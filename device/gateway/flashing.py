"""Full firmware flashing: the board's own flasher command from its DeviceProfile (picotool, bossac,
esptool ...), run with the port and the firmware file filled in."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from specs.errors import DeviceError
from specs.v1alpha1.device_profile import DeviceProfile
from wire.logs import get_logger

log = get_logger("gateway.flashing")


def flash_command(profile: DeviceProfile, port: str, firmware: str | Path) -> list[str]:
    """The board's flasher command with {port} and {firmware} filled in (shell-quoted safely)."""
    if not profile.spec.flasher:
        raise DeviceError(f"DeviceProfile/{profile.metadata.name} has no flasher command; add spec.flasher")
    words = shlex.split(profile.spec.flasher)
    return [w.replace("{port}", port).replace("{firmware}", str(firmware)) for w in words]


def flash_firmware(profile: DeviceProfile, port: str, firmware: str | Path, *, timeout_s: float = 600) -> str:
    """Run the flasher; its output. DeviceError (with the tool's last lines) when it fails or is missing."""
    command = flash_command(profile, port, firmware)
    log.info("flashing firmware", extra={"profile": profile.metadata.name, "port": port, "command": command})
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise DeviceError(f"flasher {command[0]!r} for {profile.metadata.name} is not installed") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"flasher {command[0]} did not finish within {timeout_s:.0f} s") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise DeviceError(f"flashing {profile.metadata.name} on {port} failed (exit {result.returncode}): "
                          f"{output[-1000:]}")
    return output
