"""Build a rendered project with the board's real toolchain, when it is installed.

When it is not, the rendered project itself is the artifact and the result says so explicitly
(`status == "rendered"` with the reason), so no status ever claims a build that did not happen.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from controller.firmware.render import RenderedProject
from specs.errors import StageError
from wire.logs import get_logger

log = get_logger("firmware.toolchains")

BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class BuildResult:
    status: Literal["built", "rendered"]
    reason: str                      # why it was built, or why only rendered
    artifact: Path                   # the firmware image, or the project directory
    commands: tuple[tuple[str, ...], ...] = ()

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "artifact": str(self.artifact),
                "commands": [list(c) for c in self.commands]}


@dataclass(frozen=True)
class Toolchain:
    """What a family needs installed and the commands that build its project."""

    name: str
    missing: Callable[[], str | None]                       # None when installed, else what is missing
    commands: Callable[[Path], list[list[str]]]
    artifact: Callable[[Path], Path]


def _need_tool(tool: str, hint: str) -> Callable[[], str | None]:
    return lambda: None if shutil.which(tool) else f"{tool} is not on PATH ({hint})"


def _need_env(variable: str, hint: str, tools: tuple[str, ...] = ("cmake",)) -> Callable[[], str | None]:
    def missing() -> str | None:
        value = os.environ.get(variable)
        if not value or not Path(value).is_dir():
            return f"{variable} is not set to an existing directory ({hint})"
        for tool in tools:
            if not shutil.which(tool):
                return f"{tool} is not on PATH"
        return None
    return missing


TOOLCHAINS: dict[str, Toolchain] = {
    "arduino-nano33ble": Toolchain(
        "arduino-cli", _need_tool("arduino-cli", "https://arduino.github.io/arduino-cli/"),
        lambda d: [["arduino-cli", "compile", "--profile", "origami", "--output-dir", str(d / "build"),
                    str(d / "origami_firmware")]],
        lambda d: d / "build" / "origami_firmware.ino.bin"),
    "pico": Toolchain(
        "pico-sdk", _need_env("PICO_SDK_PATH", "clone https://github.com/raspberrypi/pico-sdk and export it"),
        lambda d: [["cmake", "-S", str(d), "-B", str(d / "build")], ["cmake", "--build", str(d / "build"), "-j2"]],
        lambda d: d / "build" / "origami_firmware.uf2"),
    "esp32": Toolchain(
        "esp-idf", _need_tool("idf.py", "source esp-idf's export.sh"),
        lambda d: [["idf.py", "-C", str(d), "set-target", "esp32s3"], ["idf.py", "-C", str(d), "build"]],
        lambda d: d / "build" / "origami_firmware.bin"),
    "coral-micro": Toolchain(
        "coralmicro", _need_env("CORALMICRO_PATH", "clone https://github.com/google-coral/coralmicro and export it",
                                ("cmake", "make", "arm-none-eabi-gcc")),
        lambda d: [["cmake", "-S", str(d), "-B", str(d / "build")], ["make", "-C", str(d / "build"), "-j2"]],
        lambda d: d / "build" / "origami_firmware"),
}


def _missing_sources(project: RenderedProject) -> str | None:
    """What the project needs beside the toolchain: Monocypher for the device core's signature check."""
    from controller.firmware.render import FAMILIES
    from controller.firmware.render import MONOCYPHER_VERSION

    source_dir = FAMILIES[project.family].source_dir
    if source_dir and not (project.directory / source_dir / "monocypher.c").is_file():
        return (f"Monocypher {MONOCYPHER_VERSION} sources are missing beside the device core (render with "
                "ORIGAMI_THIRD_PARTY set to the third-party tree, or copy monocypher*.{c,h} there)")
    return None


def build_firmware(project: RenderedProject, *, progress: Callable[[str], None] | None = None,
                   timeout_s: float = BUILD_TIMEOUT_S) -> BuildResult:
    """Run the family's toolchain on the project, or say plainly that the project is the artifact."""
    say = progress or (lambda message: None)
    if project.family == "linux":
        return BuildResult("built", "a LiteRT bundle needs no compilation: the bundle is the artifact",
                           project.directory)
    toolchain = TOOLCHAINS[project.family]
    missing = _missing_sources(project) or toolchain.missing()
    if missing:
        reason = f"not built: {missing}; the rendered project is the artifact"
        log.info("firmware rendered only", extra={"family": project.family, "reason": reason})
        return BuildResult("rendered", reason, project.directory)
    commands = toolchain.commands(project.directory)
    for command in commands:
        say(" ".join(command))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise StageError(f"{toolchain.name} build timed out after {timeout_s:.0f} s: {' '.join(command)}") from None
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip()[-2000:]
            raise StageError(f"{toolchain.name} build failed (exit {result.returncode}): {' '.join(command)}\n{tail}")
    artifact = toolchain.artifact(project.directory)
    if not artifact.exists():
        raise StageError(f"{toolchain.name} build finished but {artifact} is missing; see the build log")
    log.info("firmware built", extra={"family": project.family, "artifact": str(artifact)})
    return BuildResult("built", f"built with {toolchain.name}", artifact, tuple(tuple(c) for c in commands))
