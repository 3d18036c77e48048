"""Emulated boards: a bare-metal TFLM image for a board's core, linked into the board's flash and RAM,
run on QEMU's MPS2 machine with the same core.

`render_qemu_project` renders `firmware_templates/qemu/` (startup, CMSDK UART, linker script with
the board's memory, a main that runs one inference per sample) with the model as a C array and the
model's op resolver; `build_qemu_image` compiles it against the cached TFLM library
(`tflm_library.py`) and reports `arm-none-eabi-size`; `run_qemu_image` boots it under
`qemu-system-arm`, bounded in time, and parses what the device printed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from controller.firmware.c_array import c_array
from controller.firmware.render import MODEL_SYMBOL
from controller.firmware.render import TEMPLATES
from controller.firmware.render import _environment
from controller.firmware.render import _fresh_directory
from controller.firmware.render import _template_files
from controller.firmware.render import arena_with_margin
from controller.firmware.tflm_library import CXX
from controller.firmware.tflm_library import TflmLibrary
from controller.firmware.tflm_library import build_tflm_library
from runtimes.operators import model_operators
from specs.errors import StageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from wire import __version__ as origami_version
from wire.logs import get_logger

log = get_logger("firmware.qemu")

FAMILY = "qemu"
STACK_BYTES = 8 * 1024
RUN_TIMEOUT_S = 60.0
LINK_TIMEOUT_S = 300
_LINE = re.compile(r"^origami-qemu (?P<body>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class EmulatedBoard:
    """A real board's memory on the QEMU machine whose core matches it."""

    profile: str     # BUILTIN_PROFILES name: its flash and RAM size the image
    machine: str     # qemu-system-arm -M
    core: str        # tflm_library.CORE_FLAGS key


EMULATED_BOARDS: dict[str, EmulatedBoard] = {
    "nano33ble": EmulatedBoard("nano33ble", "mps2-an386", "cortex-m4"),  # nRF52840 = Cortex-M4F
}


def emulated_board(name: str) -> EmulatedBoard:
    if name not in EMULATED_BOARDS:
        raise StageError(f"no emulated board for {name!r}; emulated boards: {', '.join(sorted(EMULATED_BOARDS))}")
    return EMULATED_BOARDS[name]


@dataclass(frozen=True)
class QemuProject:
    """A rendered emulated-board project: the board, where it was rendered, the kernels the model's op
    resolver registers, the arena the firmware reserves and how many baked-in inputs it runs."""

    board: EmulatedBoard
    directory: Path
    builtin_ops: tuple[str, ...]
    arena_bytes: int
    samples: int


@dataclass(frozen=True)
class QemuImage:
    elf: Path
    text_bytes: int     # .text + .rodata (flash)
    data_bytes: int     # .data (flash and RAM)
    bss_bytes: int      # .bss + stack (RAM), the arena included

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.data_bytes

    @property
    def ram_bytes(self) -> int:
        return self.data_bytes + self.bss_bytes


@dataclass(frozen=True)
class QemuRun:
    arena_used_bytes: int
    outputs: tuple[bytes, ...]   # raw output tensor bytes, one per sample


def render_qemu_project(tflite: bytes, board: EmulatedBoard, out_dir: str | Path, *, samples: list[bytes],
                        arena_measured: int) -> QemuProject:
    """Render the image's sources; `samples` are raw input-tensor bytes, one inference each."""
    if not samples or len({len(s) for s in samples}) != 1:
        raise StageError("give at least one input sample, all of the input tensor's size")
    ops = model_operators(tflite)
    if ops.custom:
        raise StageError(f"the model uses custom operators {list(ops.custom)} that TFLM cannot resolve")
    spec = BUILTIN_PROFILES[board.profile].spec
    arena_bytes = arena_with_margin(arena_measured)
    out = _fresh_directory(Path(out_dir))
    context = {
        "origami_version": origami_version, "board": spec.board, "machine": board.machine,
        "flash": spec.flash, "ram": spec.ram, "stack_bytes": STACK_BYTES, "arena_bytes": arena_bytes,
        "model_symbol": MODEL_SYMBOL, "resolver_calls": list(ops.resolver_calls),
        "sample_bytes": len(samples[0]), "samples": [", ".join(str(b) for b in s) for s in samples],
    }
    env = _environment()
    for name in _template_files(FAMILY) + ["common/op_resolver.h.j2"]:
        relative = name.split("/", 1)[1]
        target = out / relative.removesuffix(".j2")
        if relative.endswith(".j2"):
            target.write_text(env.get_template(name).render(context))
        else:
            shutil.copyfile(TEMPLATES / name, target)
    array = c_array(tflite, MODEL_SYMBOL, header_name="model_data.h")
    (out / "model_data.h").write_text(array.header)
    (out / "model_data.cc").write_text(array.source)
    return QemuProject(board, out, ops.kernels, arena_bytes, len(samples))


def build_qemu_image(project: QemuProject, library: TflmLibrary, *, extra_sources: tuple[Path, ...] = (),
                     extra_includes: tuple[Path, ...] = ()) -> QemuImage:
    """Compile and link the project (plus `extra_sources`, C files compiled in from outside it, e.g.
    Monocypher) against `library`; the link fails when the image does not fit the board's flash or
    RAM (the linker script has the board's sizes)."""
    if library.core != project.board.core:
        raise StageError(f"the TFLM library was built for {library.core}, the board needs {project.board.core}")
    missing = sorted(set(project.builtin_ops) - set(library.kernels))
    if missing:
        raise StageError(f"the TFLM library lacks kernels for {missing}; build it with the model's operators")
    d = project.directory
    c_sources = sorted(str(p) for p in d.iterdir() if p.suffix == ".c") + [str(p) for p in extra_sources]
    cc_sources = sorted(str(p) for p in d.iterdir() if p.suffix == ".cc")
    elf = d / "app.elf"
    includes = [f"-I{d}", *(f"-I{p}" for p in extra_includes)]
    command = [CXX, *library.flags, *library.includes, *includes, "-nostartfiles", "--specs=nano.specs",
               "--specs=nosys.specs", f"-T{d / 'link.ld'}", "-Wl,--gc-sections", f"-Wl,-Map={d / 'app.map'}",
               "-x", "c", *c_sources, "-x", "c++", *cc_sources, "-x", "none", str(library.path), "-lm",
               "-o", str(elf)]
    command = [c for c in command if c != "-std=c++17"]  # g++'s default (gnu++17) for C++, and C stays C
    result = subprocess.run(command, capture_output=True, text=True, timeout=LINK_TIMEOUT_S)
    if result.returncode != 0:
        tail = result.stderr.strip()[-2000:]
        if "will not fit in region" in tail or "overflowed by" in tail:
            raise StageError(f"the image does not fit {project.board.profile}'s flash or RAM:\n{tail}")
        raise StageError(f"building the {project.board.profile} image failed (exit {result.returncode}):\n{tail}")
    return QemuImage(elf, *image_size(elf))


def image_size(elf: Path) -> tuple[int, int, int]:
    """(text, data, bss) from `arm-none-eabi-size` (Berkeley format)."""
    result = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = result.stdout.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def qemu_command(board: EmulatedBoard, elf: Path) -> list[str]:
    return ["qemu-system-arm", "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "stdio",
            "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]


def run_qemu_image(board: EmulatedBoard, image: QemuImage, *, timeout_s: float = RUN_TIMEOUT_S) -> QemuRun:
    """Boot the image, wait for it to exit (semihosting) or time out, and parse its report."""
    if not shutil.which("qemu-system-arm"):
        raise StageError("qemu-system-arm is not on PATH; install qemu-system-arm (scripts/system-packages.sh)")
    try:
        result = subprocess.run(qemu_command(board, image.elf), capture_output=True, text=True,
                                timeout=timeout_s, stdin=subprocess.DEVNULL)
        output, code = result.stdout, result.returncode
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) \
            else (expired.stdout or "")
        raise StageError(f"the emulated {board.profile} did not finish within {timeout_s:.0f} s; "
                         f"it printed: {_report_lines(output)[-3:]}") from None
    return parse_report(output, code, board)


def _report_lines(output: str) -> list[str]:
    return [m.group("body").strip() for m in _LINE.finditer(output.replace("\r", ""))]


def parse_report(output: str, exit_code: int, board: EmulatedBoard) -> QemuRun:
    """The image's `origami-qemu ...` lines: one per sample, then `done`; `error=WHAT` on failure."""
    lines = _report_lines(output)
    errors = [line for line in lines if line.startswith("error=")]
    if errors or exit_code != 0 or "done" not in lines:
        why = errors[0].removeprefix("error=") if errors else f"exit {exit_code} without a report"
        raise StageError(f"the emulated {board.profile} failed: {why}")
    arena_used, outputs = 0, []
    for line in lines:
        if line.startswith("sample="):
            fields = dict(part.split("=", 1) for part in line.split())
            arena_used = max(arena_used, int(fields["arena_used"]))
            outputs.append(bytes.fromhex(fields["output"]))
    log.info("emulated board ran the model", extra={"board": board.profile, "samples": len(outputs),
                                                    "arena_used_bytes": arena_used})
    return QemuRun(arena_used, tuple(outputs))


@dataclass(frozen=True)
class EmulatedRun:
    """One model through the whole emulated path: library, image, run."""

    library: TflmLibrary
    project: QemuProject
    image: QemuImage
    run: QemuRun


def run_on_emulated_board(tflite: bytes, board_name: str, samples: list[bytes], *, cache_dir: str | Path,
                          work_dir: str | Path, arena_measured: int) -> EmulatedRun:
    """Render, build (the TFLM library from the cache when it is there) and run `samples` on the board."""
    board = emulated_board(board_name)
    project = render_qemu_project(tflite, board, work_dir, samples=samples, arena_measured=arena_measured)
    library = build_tflm_library(board.core, project.builtin_ops, cache_dir)
    image = build_qemu_image(project, library)
    return EmulatedRun(library, project, image, run_qemu_image(board, image))
