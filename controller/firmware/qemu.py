"""Emulated boards: a bare-metal TFLM image for a board's core, linked into the board's flash and RAM,
run on QEMU's MPS2 machine with the same core.

`render_qemu_project` renders `firmware_templates/qemu/` (startup, CMSDK UART, linker script with
the board's memory, a main that runs one inference per sample) with the model as a C array and the
model's op resolver; `build_qemu_image` compiles it against the cached TFLM library
(`tflm_library.py`) and reports `arm-none-eabi-size`; `run_qemu_image` boots it under
`qemu-system-arm`, bounded in time, and parses what the device printed.

Instructions per inference are an estimate from QEMU's instruction counting: under `-icount
shift=6` the virtual clock advances 64 ns per executed guest instruction, and the device reads the
MPS2's CMSDK timer 0 (25 MHz, 32 bit, which QEMU clocks from that virtual clock) around `Invoke()`.
So `ticks * 40 ns / 64 ns` counts the instructions the core executed in `Invoke()` (plus one
counter read), not cycles: QEMU models no pipeline, caches, flash wait states or multi-cycle
instructions, so a real board's cycles per inference are higher (on a Cortex-M4 roughly 1.2-2x).
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
_OVERFLOW = re.compile(r"region `(?P<region>\w+)' overflowed by (?P<bytes>\d+) bytes")
# Instruction counting (see the module's docstring): checked on all three machines with a loop of a
# known instruction count (2,000,000 instructions -> 3,200,000 ticks of timer 0 and of SysTick).
ICOUNT_SHIFT = 6
TICK_HZ = 25_000_000  # the MPS2 FPGA clock that QEMU drives timer 0 (and SysTick) from
MPS2_MEMORY_BYTES = 4 * 1024 * 1024  # what QEMU's MPS2 machines map at 0x0 (SSRAM1) and 0x20000000 (SSRAM2/3)


@dataclass(frozen=True)
class EmulatedBoard:
    """A real board's memory on the QEMU machine whose core runs the board's code."""

    profile: str     # BUILTIN_PROFILES name: its flash and RAM size the image
    machine: str     # qemu-system-arm -M
    core: str        # tflm_library.CORE_FLAGS key: what the code is compiled for
    note: str = ""   # where the emulation differs from the board

    @property
    def flash_bytes(self) -> int:
        """The flash the image links into: the board's, unless QEMU's machine maps less (the Coral
        Micro's 128 MiB flash is larger than the 4 MiB the MPS2 machine has there)."""
        return min(BUILTIN_PROFILES[self.profile].spec.flash, MPS2_MEMORY_BYTES)

    @property
    def ram_bytes(self) -> int:
        return min(BUILTIN_PROFILES[self.profile].spec.ram, MPS2_MEMORY_BYTES)


EMULATED_BOARDS: dict[str, EmulatedBoard] = {
    "nano33ble": EmulatedBoard("nano33ble", "mps2-an386", "cortex-m4"),  # nRF52840 = Cortex-M4F
    # RP2040 = Cortex-M0+: the code is compiled for ARMv6-M, which a Cortex-M3 executes (a subset of
    # ARMv7-M); startup.c sets CCR.UNALIGN_TRP so unaligned accesses fault as on the M0+.
    "pico": EmulatedBoard("pico", "mps2-an385", "cortex-m0plus",
                          "ARMv6-M code on QEMU's Cortex-M3 (mps2-an385); one core of the RP2040's two"),
    # i.MX RT1176's Cortex-M7 (its Cortex-M4 and Edge TPU are not emulated).
    "coralmicro": EmulatedBoard("coral-micro", "mps2-an500", "cortex-m7",
                                "the Cortex-M7 only; the image links into the 4 MiB flash and 4 MiB RAM QEMU's "
                                "mps2-an500 maps, less than the board's 128 MiB flash and 64 MiB SDRAM"),
}
_ALIASES = {board.profile: name for name, board in EMULATED_BOARDS.items()}  # coral-micro -> coralmicro


# What building a device-core image and booting it on QEMU needs beside the third-party tree.
EMULATOR_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm")


def emulator_missing() -> str | None:
    """Why device-core images cannot be built and run here (one line), or None."""
    from controller.firmware.tflm_library import third_party_root

    absent = [tool for tool in EMULATOR_TOOLS if not shutil.which(tool)]
    if absent:
        return f"{', '.join(absent)} not installed (scripts/system-packages.sh installs them)"
    try:
        third_party_root()
    except StageError as err:
        return str(err).split(";")[0]
    return None


def emulated_board(name: str) -> EmulatedBoard:
    key = _ALIASES.get(name, name)
    if key not in EMULATED_BOARDS:
        raise StageError(f"no emulated board for {name!r}; emulated boards: {', '.join(sorted(EMULATED_BOARDS))}")
    return EMULATED_BOARDS[key]


def instructions_from_ticks(ticks: int) -> int:
    """Timer ticks (25 MHz) under `-icount shift=ICOUNT_SHIFT` -> executed instructions (an estimate of the
    work, not of cycles: see the module's docstring)."""
    return round(ticks * (1e9 / TICK_HZ) / 2 ** ICOUNT_SHIFT)


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
    ticks: tuple[int, ...] = ()  # timer ticks of each Invoke() under -icount

    @property
    def instructions(self) -> tuple[int, ...]:
        """Instructions each inference executed (an estimate: see instructions_from_ticks)."""
        return tuple(instructions_from_ticks(t) for t in self.ticks)


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
        "flash": board.flash_bytes, "ram": board.ram_bytes, "stack_bytes": STACK_BYTES, "arena_bytes": arena_bytes,
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
            raise StageError(fit_failure(project.board, tail))
        raise StageError(f"building the {project.board.profile} image failed (exit {result.returncode}):\n{tail}")
    return QemuImage(elf, *image_size(elf))


def fit_failure(board: EmulatedBoard, linker_output: str) -> str:
    """The linker's overflow as figures a user can act on: region, its size, how much is missing."""
    spec = BUILTIN_PROFILES[board.profile].spec
    sizes = {"FLASH": board.flash_bytes, "RAM": board.ram_bytes}
    parts = [f"{m.group('region')} short by {int(m.group('bytes')):,} B"
             for m in _OVERFLOW.finditer(linker_output)] or ["a section does not fit its region"]
    limit = "" if (sizes["FLASH"], sizes["RAM"]) == (spec.flash, spec.ram) else \
        f" (QEMU's {board.machine} maps {sizes['FLASH']:,} B of flash and {sizes['RAM']:,} B of RAM, " \
        "less than the board)"
    return (f"the image does not fit the {spec.board}: {'; '.join(parts)}; the board has {spec.flash:,} B of "
            f"flash and {spec.ram:,} B of RAM{limit}; a smaller model or arena (or a larger board) is needed")


def image_size(elf: Path) -> tuple[int, int, int]:
    """(text, data, bss) from `arm-none-eabi-size` (Berkeley format)."""
    result = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = result.stdout.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def icount_flags() -> list[str]:
    """Deterministic instruction counting: the virtual clock follows executed instructions only."""
    return ["-icount", f"shift={ICOUNT_SHIFT},align=off,sleep=off"]


def qemu_command(board: EmulatedBoard, elf: Path) -> list[str]:
    return ["qemu-system-arm", "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "stdio",
            "-semihosting-config", "enable=on,target=native", *icount_flags(), "-kernel", str(elf)]


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
    arena_used, outputs, ticks = 0, [], []
    for line in lines:
        if line.startswith("sample="):
            fields = dict(part.split("=", 1) for part in line.split())
            arena_used = max(arena_used, int(fields["arena_used"]))
            outputs.append(bytes.fromhex(fields["output"]))
            ticks.append(int(fields.get("ticks", 0)))
    log.info("emulated board ran the model", extra={"board": board.profile, "samples": len(outputs),
                                                    "arena_used_bytes": arena_used})
    return QemuRun(arena_used, tuple(outputs), tuple(ticks))


@dataclass(frozen=True)
class EmulatedRun:
    """One model through the whole emulated path: library, image, run."""

    library: TflmLibrary
    project: QemuProject
    image: QemuImage
    run: QemuRun


def run_on_emulated_board(tflite: bytes, board_name: str, samples: list[bytes], *, cache_dir: str | Path,
                          work_dir: str | Path, arena_measured: int, kernel_set: str = "reference",
                          timeout_s: float = RUN_TIMEOUT_S) -> EmulatedRun:
    """Render, build (the TFLM library from the cache when it is there) and run `samples` on the board,
    with TFLM's reference kernels or CMSIS-NN's (`kernel_set="cmsis_nn"`)."""
    board = emulated_board(board_name)
    project = render_qemu_project(tflite, board, work_dir, samples=samples, arena_measured=arena_measured)
    library = build_tflm_library(board.core, project.builtin_ops, cache_dir, kernel_set=kernel_set)
    image = build_qemu_image(project, library)
    return EmulatedRun(library, project, image, run_qemu_image(board, image, timeout_s=timeout_s))
