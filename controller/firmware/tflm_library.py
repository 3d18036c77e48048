"""Build TFLM's runtime as a static library for one Cortex-M core, with only the kernels a model needs.

TFLM's own Makefile compiles every kernel (about 8 minutes on two busy cores); here the runtime's
core files plus the kernels behind the model's op resolver are compiled directly with Debian's
`arm-none-eabi-g++`, with the Makefile's flags for a `cortex_m_generic` release build. The sources
come from the third-party tree (`ORIGAMI_THIRD_PARTY`) and are never copied into the project.
A library is cached under `cache_dir`, keyed by everything that changes its bytes (core, flags,
TFLM commit, compiler version, kernel set), so a model update reuses it.

Two kernel sets: TFLM's portable reference kernels, and `cmsis_nn` (what TFLM's Makefile builds with
`OPTIMIZED_KERNEL_DIR=cmsis_nn`): where `kernels/cmsis_nn/<stem>.cc` exists it replaces the
reference kernel, compiled with `-DCMSIS_NN` against Arm's CMSIS-NN library (its int8/int16
sources, no float16/float32 ones, as the Makefile's defaults), cached under their own key.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from specs.errors import StageError
from wire.logs import get_logger

log = get_logger("firmware.tflm_library")

THIRD_PARTY_VARIABLE = "ORIGAMI_THIRD_PARTY"
LIBRARY_NAME = "libtensorflow-microlite.a"
BUILDER_VERSION = "1"  # bump when the file list or flags below change meaning
COMPILE_TIMEOUT_S = 600
CXX = "arm-none-eabi-g++"
AR = "arm-none-eabi-ar"

# -mcpu/-mfpu per core as TFLM's cortex_m_generic target sets them; the Nano 33's nRF52840 is an M4F.
CORE_FLAGS: dict[str, tuple[str, ...]] = {
    "cortex-m4": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
    "cortex-m0plus": ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
    "cortex-m3": ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
}
# TFLM's Makefile COMMON_FLAGS + CXXFLAGS for BUILD_TYPE=release (no error strings, no asserts), plus
# -ffp-contract=off: fused multiply-adds round differently from the host's TFLM, and with them off
# float models give bit-identical outputs on the device (checked on the sine model).
COMMON_FLAGS = (
    "-std=c++17", "-O2", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
    "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
    "-fmessage-length=0", "-funsigned-char", "-ffp-contract=off",
    "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
    "-DNDEBUG", "-DTF_LITE_STRIP_ERROR_STRINGS", "-DTF_LITE_MCU_DEBUG_LOG",
)
KERNEL_SETS = ("reference", "cmsis_nn")
# ext_libs/cmsis_nn.inc's defaults: no float kernels from CMSIS-NN (TFLM keeps its own for float).
CMSIS_NN_FLAGS = ("-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")
_CMSIS_NN_FLOAT = re.compile(r"(_f16|_f32|arm_nntables_flt)\.c$")
# Kernel source stems where the file is not the lower-case builtin name (kernels/<stem>.cc and,
# when present, kernels/<stem>_common.cc).
_KERNEL_STEMS: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("conv",), "DEPTHWISE_CONV_2D": ("depthwise_conv",),
    "AVERAGE_POOL_2D": ("pooling",), "MAX_POOL_2D": ("pooling",),
    "RELU": ("activations",), "RELU6": ("activations",), "RELU_N1_TO_1": ("activations",),
    "MAXIMUM": ("maximum_minimum",), "MINIMUM": ("maximum_minimum",),
    "EQUAL": ("comparisons",), "NOT_EQUAL": ("comparisons",), "GREATER": ("comparisons",),
    "GREATER_EQUAL": ("comparisons",), "LESS": ("comparisons",), "LESS_EQUAL": ("comparisons",),
    "LOGICAL_AND": ("logical",), "LOGICAL_OR": ("logical",),
    "ABS": ("elementwise",), "SIN": ("elementwise",), "COS": ("elementwise",), "LOG": ("elementwise",),
    "SQRT": ("elementwise",), "RSQRT": ("elementwise",), "SQUARE": ("elementwise",),
    "LOGICAL_NOT": ("elementwise",),
    "MEAN": ("reduce",), "REDUCE_MAX": ("reduce",), "REDUCE_MIN": ("reduce",), "SUM": ("reduce",),
    "ARG_MAX": ("arg_min_max",), "ARG_MIN": ("arg_min_max",), "PADV2": ("pad",),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("unidirectional_sequence_lstm", "lstm_eval"),
    # TFLM's own custom DECODE (LUT-compressed weights): the operator and every decoder its state
    # factory (decode_state.cc) can create.
    "DECODE": ("decode", "decode_state", "decode_state_lut", "decode_state_huffman", "decode_state_prune"),
}
# Helpers every kernel links against.
_KERNEL_SUPPORT = ("kernel_util.cc", "micro_tensor_utils.cc")
# Test doubles that TFLM's Makefile also archives; no firmware references them.
_NOT_RUNTIME = re.compile(r"(_test|test_helper\w*|fake_\w+|mock_\w+)\.cc$")
# The third-party folders a library compiles (their digests key the cache).
COMPILED_FOLDERS = ("tflite-micro", "flatbuffers", "gemmlowp", "ruy", "kissfft")
CMSIS_NN_FOLDERS = ("cmsis", "cmsis-nn")


@dataclass(frozen=True)
class ThirdParty:
    """The pinned third-party trees a firmware build compiles against."""

    root: Path

    @property
    def tflm(self) -> Path:
        return self.root / "tflite-micro"

    @property
    def cmsis_nn(self) -> Path:
        return self.root / "cmsis-nn"

    def includes(self, kernel_set: str = "reference") -> tuple[str, ...]:
        r = self.root
        base = (f"-I{self.tflm}", f"-I{r / 'flatbuffers' / 'include'}", f"-I{r / 'gemmlowp'}",
                f"-I{r / 'ruy'}", f"-I{r / 'kissfft'}")
        if kernel_set != "cmsis_nn":
            return base
        # As ext_libs/cmsis_nn.inc: TFLM's cmsis_nn kernels include "Include/arm_nnfunctions.h".
        return base + (f"-I{r / 'cmsis'}", f"-I{self.cmsis_nn}", f"-I{r / 'cmsis' / 'CMSIS' / 'Core' / 'Include'}",
                       f"-I{self.cmsis_nn / 'Include'}")

    def cmsis_nn_sources(self) -> list[Path]:
        """CMSIS-NN's C sources as TFLM's Makefile compiles them (no float16/float32 kernels); the
        link keeps only what the cmsis_nn kernels call (--gc-sections, archive members on demand)."""
        source = self.cmsis_nn / "Source"
        if not (self.cmsis_nn / "Include" / "arm_nnfunctions.h").is_file():
            raise StageError("no CMSIS-NN sources in the third-party tree (cmsis-nn/ at the pinned commit); "
                             "the cmsis_nn kernel set needs them")
        return [p for p in sorted(source.rglob("*.c")) if not _CMSIS_NN_FLOAT.search(p.name)]

    def sources_id(self, kernel_set: str = "reference") -> str:
        """What the library's cache key records of its sources: the digests of the folders it
        compiles (the lock's, when the tree matches it). A tree edited by hand gets its own key, so a
        library built from other sources is never taken from the cache; it is built, with a warning."""
        from controller.firmware.third_party import sources_digests

        names = COMPILED_FOLDERS + (CMSIS_NN_FOLDERS if kernel_set == "cmsis_nn" else ())
        digests, unlocked = sources_digests(self.root, names)
        if unlocked:
            log.warning("third-party tree differs from the lock; building from it anyway",
                        extra={"folders": unlocked, "hint": "origami third-party verify"})
        return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


def third_party_root(project_root: Path | None = None) -> ThirdParty:
    """`ORIGAMI_THIRD_PARTY`, else `../shared/third_party` beside the project; a clear error otherwise."""
    configured = os.environ.get(THIRD_PARTY_VARIABLE)
    root = Path(project_root or Path(__file__).resolve().parents[2])
    candidate = Path(configured) if configured else root.parent / "shared" / "third_party"
    if not (candidate / "tflite-micro" / "tensorflow" / "lite" / "micro").is_dir():
        where = (f"the folder {THIRD_PARTY_VARIABLE} names" if configured
                 else f"{THIRD_PARTY_VARIABLE} is not set and ../shared/third_party")
        raise StageError(f"no TFLM source tree: {where} has no tflite-micro/ checkout; "
                         f"set {THIRD_PARTY_VARIABLE} to a folder holding tflite-micro, flatbuffers, gemmlowp, "
                         "ruy and kissfft at the pinned commits")
    return ThirdParty(candidate.resolve())


def kernel_sources(tflm: Path, builtin_ops: tuple[str, ...] | list[str], kernel_set: str = "reference") -> list[Path]:
    """The kernel files behind `builtin_ops` (builtin operator names, e.g. FULLY_CONNECTED); with
    `cmsis_nn`, kernels/cmsis_nn/<stem>.cc in place of the reference file where it exists (the
    Makefile's OPTIMIZED_KERNEL_DIR rule: same file name, optimized folder wins)."""
    kernels = tflm / "tensorflow/lite/micro/kernels"
    optimized = kernels / kernel_set if kernel_set != "reference" else None
    files: list[Path] = [kernels / name for name in _KERNEL_SUPPORT]
    for op in sorted(set(builtin_ops)):
        stems = _KERNEL_STEMS.get(op, (op.lower(),))
        for stem in stems:
            main = kernels / f"{stem}.cc"
            if not main.is_file():
                raise StageError(f"no TFLM kernel source for operator {op} (looked for kernels/{stem}.cc); "
                                 "this TFLM tree does not implement it for microcontrollers")
            if optimized is not None and (optimized / f"{stem}.cc").is_file():
                main = optimized / f"{stem}.cc"
            files.append(main)
            common = kernels / f"{stem}_common.cc"
            if common.is_file():
                files.append(common)
    return list(dict.fromkeys(files))


def core_sources(tflm: Path) -> list[Path]:
    """The runtime without kernels, as TFLM's sources.inc lists it, with the cortex_m_generic
    debug log and timer in place of the host ones."""
    micro = tflm / "tensorflow/lite/micro"
    specialized = {p.name: p for p in (micro / "cortex_m_generic").glob("*.cc")}
    files: list[Path] = []
    for folder in (micro, micro / "arena_allocator", micro / "memory_planner", micro / "tflite_bridge"):
        for path in sorted(folder.glob("*.cc")):
            if not _NOT_RUNTIME.search(path.name):
                files.append(specialized.get(path.name, path) if folder == micro else path)
    for path in sorted((tflm / "tensorflow").rglob("*.c*")):
        relative = path.relative_to(tflm).as_posix()
        outside_micro = not relative.startswith(("tensorflow/lite/micro/", "tensorflow/lite/experimental/"))
        if (path.suffix in (".cc", ".c") and outside_micro and not _NOT_RUNTIME.search(path.name)
                and relative != "tensorflow/lite/array.cc"):  # array.cc needs dynamic memory
            files.append(path)
    return files


def compiler_version() -> str:
    if not shutil.which(CXX):
        raise StageError(f"{CXX} is not on PATH; install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                         "libstdc++-arm-none-eabi-newlib (scripts/system-packages.sh)")
    return subprocess.run([CXX, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


@dataclass(frozen=True)
class TflmLibrary:
    path: Path                 # the .a
    key: str                   # the cache key (hex)
    core: str
    flags: tuple[str, ...]     # what the application must be compiled with too
    includes: tuple[str, ...]  # -I flags for the application
    kernels: tuple[str, ...]   # builtin operators compiled in
    cached: bool               # True when this call found it in the cache
    seconds: float             # time this call took
    objects: int
    kernel_set: str = "reference"  # or "cmsis_nn"

    def to_dict(self) -> dict:
        return {"path": str(self.path), "key": self.key, "core": self.core, "flags": list(self.flags),
                "kernels": list(self.kernels), "kernel_set": self.kernel_set, "cached": self.cached,
                "seconds": round(self.seconds, 2), "objects": self.objects}


def library_key(core: str, flags: tuple[str, ...], sources: str, compiler: str,
                builtin_ops: tuple[str, ...] | list[str]) -> str:
    material = {"builder": BUILDER_VERSION, "core": core, "flags": list(flags), "sources": sources,
                "compiler": compiler, "kernels": sorted(set(builtin_ops))}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def core_flags(core: str) -> tuple[str, ...]:
    if core not in CORE_FLAGS:
        raise StageError(f"no TFLM build flags for core {core!r}; known cores: {', '.join(sorted(CORE_FLAGS))}")
    return CORE_FLAGS[core]


def library_flags(core: str, kernel_set: str = "reference") -> tuple[str, ...]:
    """What the library and the application are compiled with (the key follows them, so the two
    kernel sets are cached apart and a reference library's key is the same as before CMSIS-NN)."""
    if kernel_set not in KERNEL_SETS:
        raise StageError(f"unknown TFLM kernel set {kernel_set!r}; known: {', '.join(KERNEL_SETS)}")
    return core_flags(core) + COMMON_FLAGS + (CMSIS_NN_FLAGS if kernel_set == "cmsis_nn" else ())


def build_tflm_library(core: str, builtin_ops: tuple[str, ...] | list[str], cache_dir: str | Path, *,
                       third_party: ThirdParty | None = None, jobs: int | None = None,
                       kernel_set: str = "reference") -> TflmLibrary:
    """The cached library for (core, kernels, kernel set), compiled now when the cache has none."""
    started = time.monotonic()
    tp = third_party or third_party_root()
    flags = library_flags(core, kernel_set)
    includes = tp.includes(kernel_set)
    ops = tuple(sorted(set(builtin_ops)))
    key = library_key(core, flags, tp.sources_id(kernel_set), compiler_version(), ops)
    target = Path(cache_dir) / "tflm" / key
    library = target / LIBRARY_NAME
    if library.is_file():
        objects = json.loads((target / "build.json").read_text())["objects"]
        log.info("tflm library cache hit", extra={"core": core, "key": key[:12]})
        return TflmLibrary(library, key, core, flags, includes, ops, True, time.monotonic() - started, objects,
                           kernel_set)
    sources = core_sources(tp.tflm) + kernel_sources(tp.tflm, ops, kernel_set)
    if kernel_set == "cmsis_nn":
        sources += tp.cmsis_nn_sources()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as scratch:
        work = Path(scratch)
        objects = _compile_all(sources, tp, flags, includes, work, jobs or os.cpu_count() or 1)
        _archive(work / LIBRARY_NAME, objects)
        (work / "build.json").write_text(json.dumps(
            {"core": core, "flags": list(flags), "kernels": list(ops), "kernel_set": kernel_set,
             "objects": len(objects), "sources": [s.relative_to(tp.root).as_posix() for s in sources]},
            indent=1) + "\n")
        for obj in objects:
            obj.unlink()
        try:
            work.rename(target)  # atomic: a concurrent build of the same key leaves one complete copy
        except OSError:
            if not library.is_file():
                raise
    seconds = time.monotonic() - started
    log.info("tflm library built", extra={"core": core, "key": key[:12], "objects": len(sources),
                                           "kernel_set": kernel_set, "seconds": round(seconds, 1)})
    return TflmLibrary(library, key, core, flags, includes, ops, False, seconds, len(sources), kernel_set)


def _compile_all(sources: list[Path], tp: ThirdParty, flags: tuple[str, ...], includes: tuple[str, ...],
                 out: Path, jobs: int) -> list[Path]:
    def compile_one(numbered: tuple[int, Path]) -> Path:
        index, source = numbered
        obj = out / f"{index:04d}_{source.stem}.o"
        command = [CXX, *flags, *includes, "-x", "c++" if source.suffix == ".cc" else "c",
                   "-c", str(source), "-o", str(obj)]
        if source.suffix == ".c":
            command = [c for c in command if c not in ("-std=c++17", "-fno-rtti", "-fno-threadsafe-statics")]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise StageError(f"compiling {source.name} for the TFLM library timed out "
                             f"after {COMPILE_TIMEOUT_S} s") from None
        if result.returncode != 0:
            raise StageError(f"compiling {source.relative_to(tp.root)} failed (exit {result.returncode}):\n"
                             + result.stderr.strip()[-2000:])
        return obj

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(compile_one, enumerate(sources)))


def _archive(library: Path, objects: list[Path]) -> None:
    result = subprocess.run([AR, "rcs", str(library), *map(str, objects)], capture_output=True, text=True)
    if result.returncode != 0:
        raise StageError(f"{AR} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
