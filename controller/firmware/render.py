"""Render a complete firmware project (or a LiteRT bundle) for a board from a .tflite model.

A microcontroller project is Origami's portable device core (`firmware_templates/device_core/`:
serial protocol, signed model updates into two flash slots, TFLM runner) over the board's HAL, with
the model as an aligned C array (installed into a slot at first boot), an op resolver registering
exactly the operators the model uses, the tensor arena (TFLM measurement plus a margin), the
controller's public key and Monocypher for the signature check. Templates live in
`firmware_templates/<family>/`; files ending in `.j2` are rendered, `common/` is shared by the TFLM
targets. The application file (`origami_app.cc`) is the user's: created on the first render, never
overwritten by a re-render into the same directory.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import jinja2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.firmware import model_meta
from controller.firmware.c_array import MODEL_ALIGNMENT
from controller.firmware.c_array import c_array
from runtimes.operators import model_operators
from specs.errors import StageError
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.budget import misfit
from specs.v1alpha1.device_profile import DeviceProfile
from wire import __version__ as origami_version
from wire.logs import get_logger
from wire.manifests import key_id as public_key_id

log = get_logger("firmware.render")

TEMPLATES = Path(__file__).resolve().parents[2] / "firmware_templates"
ARENA_MARGIN = 0.20  # TFLM's needs grow with kernel versions and CMSIS-NN scratch buffers
MODEL_SYMBOL = "g_origami_model"
SERIAL_MAX_PAYLOAD = 8 * 1024 + 64  # one model chunk of 8 KiB plus its offset and slack
SERIAL_BAUD = 115200
STATE_INTERVAL_S = 30
PROJECT_RECORD = "origami-project.json"  # marks a directory as a rendered project (a re-render may reuse it)
USER_FILE_STEM = "origami_app"           # origami_app.<ext>: the user's application, kept by a re-render
CORE_FAMILY = "device_core"
STORAGE_MAX = 4 * 1024 * 1024            # two model slots and a metadata page, at most
STORAGE_ALIGN = 4096                     # the flash sector every target erases
MONOCYPHER_VERSION = "4.0.3"
MONOCYPHER_FILES = ("src/monocypher.c", "src/monocypher.h", "src/optional/monocypher-ed25519.c",
                    "src/optional/monocypher-ed25519.h")
# tensorflow/tflite-micro-arduino-examples, the Arduino_TensorFlowLite library the sketch builds against.
ARDUINO_TFLM_COMMIT = "4056e5f13aafb4dd3eda46cec273133a1d5e9593"


@dataclass(frozen=True)
class Family:
    """Where a TFLM target keeps its sources and what its C++ files are called."""

    name: str
    source_dir: str | None  # None: not a TFLM project (the Linux bundle)
    cxx_ext: str = ".cc"


FAMILIES = {
    "arduino-nano33ble": Family("arduino-nano33ble", "origami_firmware", ".cpp"),
    "pico": Family("pico", "src"),
    "esp32": Family("esp32", "main"),
    "coral-micro": Family("coral-micro", "."),
    "linux": Family("linux", None),
}
# Built-in profile names, then CPU markers for user profiles of the same silicon.
_BY_PROFILE = {"nano33ble": "arduino-nano33ble", "pico": "pico", "esp32s3": "esp32", "coral-micro": "coral-micro"}
_BY_CPU = {"nrf52840": "arduino-nano33ble", "rp2040": "pico", "esp32": "esp32", "i.mx rt1176": "coral-micro"}


@dataclass(frozen=True)
class RenderedProject:
    family: str
    profile: str
    directory: Path
    files: tuple[str, ...]          # relative to `directory`
    version: str
    model_digest: str               # sha256 of the .tflite
    model_size: int
    arena_measured: int
    arena_bytes: int                # what the firmware reserves (measured + margin, aligned)
    operators: tuple[str, ...]      # builtin operator names registered
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["directory"] = str(self.directory)
        return d


def template_family(profile: DeviceProfile) -> str:
    """The template folder for a board: by built-in profile name, else by its CPU."""
    spec = profile.spec
    if spec.family == "linux":
        return "linux"
    if profile.metadata.name in _BY_PROFILE:
        return _BY_PROFILE[profile.metadata.name]
    cpu = spec.cpu.lower()
    for marker, family in _BY_CPU.items():
        if marker in cpu:
            return family
    raise StageError(
        f"DeviceProfile/{profile.metadata.name}: no firmware template for CPU {spec.cpu!r}; "
        f"templates exist for {', '.join(sorted(_BY_CPU))} (firmware_templates/)")


def template_digest(profile: DeviceProfile) -> str:
    """sha256 over the template files a board's firmware is rendered from (its family and `common/`):
    editing a template changes the firmware's stage key. "none" when no family fits the board (the
    bundle stage then reports why)."""
    try:
        family = template_family(profile)
    except StageError:
        return "none"
    files = sorted(_template_files(family) + _template_files("common"))
    stats = [(f, (TEMPLATES / f).stat()) for f in files]
    stamp = tuple((f, st.st_mtime_ns, st.st_size) for f, st in stats)
    return _files_digest(stamp)


@functools.lru_cache(maxsize=64)
def _files_digest(stamp: tuple[tuple[str, int, int], ...]) -> str:
    """Read and hash the files once per (name, mtime, size) set: every pass keys every bundle."""
    h = hashlib.sha256()
    for relative, _, _ in stamp:
        h.update(relative.encode() + b"\0" + (TEMPLATES / relative).read_bytes() + b"\0")
    return h.hexdigest()


def arena_with_margin(measured: int, margin: float = ARENA_MARGIN) -> int:
    return math.ceil(measured * (1 + margin) / MODEL_ALIGNMENT) * MODEL_ALIGNMENT


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False)


def _template_files(family: str) -> list[str]:
    root = TEMPLATES / family
    if not root.is_dir():
        raise StageError(f"firmware template folder {root} is missing; reinstall Origami")
    return sorted(str(p.relative_to(TEMPLATES)) for p in root.rglob("*") if p.is_file())


def _check_fits(profile: DeviceProfile, model_size: int, arena_bytes: int) -> None:
    """The rendered firmware's own needs: the arena (with margin) beside the serial receive buffer."""
    why = misfit(board_budget(profile.spec, SERIAL_MAX_PAYLOAD if profile.spec.family == "mcu" else 0),
                 size=model_size, arena=arena_bytes, what=f"the model with its {arena_bytes} B arena (margin included)")
    if why:
        raise StageError(f"DeviceProfile/{profile.metadata.name}: {why} beside the firmware's serial buffer; "
                         "pick a smaller variant or split the model")


def render_firmware(tflite: bytes, profile: DeviceProfile, out_dir: str | Path, *, version: str,
                    arena_measured: int | None = None, arena_margin: float = ARENA_MARGIN,
                    progress: Callable[[str], None] | None = None, device: dict | None = None,
                    public_key: Ed25519PublicKey | None = None, monocypher: Path | None = None) -> RenderedProject:
    """Render the project for `profile` into `out_dir` (created when absent; empty, or a project rendered
    before, whose application file is kept).

    `arena_measured` is the TFLM arena measurement; measured here (in a subprocess) when omitted.
    `device` (the variant's `device_info`: classes, normalisation, quantization) is written beside the
    model: `origami_model_meta.h` in a TFLM project, `model_meta.json` in a Linux bundle.
    `public_key` is the controller's: the firmware installs only updates it signed (without it every
    update is refused). `monocypher` is Monocypher's source folder, by default the third-party tree's.
    Raises StageError when the model cannot run on the board (flash, RAM, custom operators).
    """
    say = progress or (lambda message: None)
    family = template_family(profile)
    ops = model_operators(tflite)
    arena_measured, arena_bytes = _arena(tflite, family, ops, arena_measured, arena_margin, say)
    _check_fits(profile, len(tflite), arena_bytes)
    out = _project_directory(Path(out_dir))
    digest = hashlib.sha256(tflite).hexdigest()
    context = _context(profile, version, digest, len(tflite), arena_measured, arena_bytes, arena_margin, ops)
    context.update(_trust_context(public_key))
    say(f"rendering {family} templates")
    monocypher = _monocypher_sources(monocypher)
    written = _write_project(out, family, context, tflite, device, monocypher)
    notes = []
    if family == "coral-micro" and "edgetpu" in profile.spec.accelerators:
        notes.append("the Edge TPU is not used: this is an int8 TFLM build on the M7 core")
    if family != "linux" and public_key is None:
        notes.append("rendered without the controller's public key: the firmware refuses every model update")
    if family != "linux" and monocypher is None:
        notes.append(f"Monocypher {MONOCYPHER_VERSION} sources are missing (set ORIGAMI_THIRD_PARTY): "
                     "the project cannot be built until monocypher*.{c,h} are beside the device core")
    project = RenderedProject(
        family=family, profile=profile.metadata.name, directory=out, files=tuple(sorted(written)),
        version=version, model_digest=digest, model_size=len(tflite), arena_measured=arena_measured,
        arena_bytes=arena_bytes, operators=ops.kernels, notes=tuple(notes))
    (out / PROJECT_RECORD).write_text(json.dumps(project.to_dict(), indent=2, sort_keys=True) + "\n")
    log.info("rendered firmware project", extra={"family": family, "profile": profile.metadata.name,
                                                  "version": version, "files": len(written),
                                                  "arena_bytes": arena_bytes, "directory": str(out)})
    return project


def _arena(tflite: bytes, family: str, ops, measured: int | None, margin: float,
           say: Callable[[str], None]) -> tuple[int, int]:
    """(measured arena, arena the firmware reserves); both 0 on Linux. Measured here when not given."""
    if ops.custom and family != "linux":
        raise StageError(f"the model uses custom operators {list(ops.custom)} that TFLM cannot resolve; "
                         "convert it with builtin operators only")
    if family == "linux":
        return measured or 0, 0
    if measured is None:
        say("measuring the TFLM tensor arena")
        from runtimes.tflm import measure_arena

        measured = measure_arena(tflite).arena_bytes
    return measured, arena_with_margin(measured, margin)


def _fresh_directory(out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise StageError(f"{out} is not empty; render into a fresh directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _project_directory(out: Path) -> Path:
    """A fresh directory, or one holding a project rendered before (re-rendered in place)."""
    if (out / PROJECT_RECORD).is_file():
        return out
    return _fresh_directory(out)


def _monocypher_sources(folder: Path | None = None) -> Path | None:
    """Monocypher's folder (by default the third-party tree's, ORIGAMI_THIRD_PARTY), or None when its
    sources are not there."""
    from controller.firmware.tflm_library import third_party_root

    if folder is None:
        try:
            folder = third_party_root().root / "monocypher"
        except StageError:
            return None
    return folder if all((folder / name).is_file() for name in MONOCYPHER_FILES) else None


def _trust_context(public_key: Ed25519PublicKey | None) -> dict:
    """The controller key the firmware trusts; without one the key id matches no manifest."""
    raw = (public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
           if public_key is not None else bytes(32))
    return {"key_id": public_key_id(public_key) if public_key is not None else "",
            "public_key_bytes": ", ".join(f"0x{b:02x}" for b in raw)}


def storage_layout(flash: int) -> tuple[int, int]:
    """(offset, bytes) of the model storage at the top of a board's flash: half of it, at most 4 MiB."""
    size = min(flash // 2, STORAGE_MAX) // STORAGE_ALIGN * STORAGE_ALIGN
    return flash - size, size


def _context(profile: DeviceProfile, version: str, digest: str, size: int, arena_measured: int, arena_bytes: int,
             margin: float, ops) -> dict:
    """What the templates see."""
    spec = profile.spec
    storage_offset, storage_bytes = storage_layout(spec.flash)
    usb = spec.usb[0] if spec.usb else None
    return {
        "cpu": spec.cpu, "usb": f'"{usb.vid:04x}:{usb.pid:04x}"' if usb else "0",
        "storage_offset": storage_offset, "storage_bytes": storage_bytes,
        "arduino_tflm_commit": ARDUINO_TFLM_COMMIT, "monocypher_version": MONOCYPHER_VERSION,
        "origami_version": origami_version, "version": version, "profile_name": profile.metadata.name,
        "board": spec.board, "ram": spec.ram, "flash": spec.flash, "flasher": spec.flasher or "(no flasher)",
        "model_digest": digest, "model_size": size, "model_symbol": MODEL_SYMBOL,
        "arena_measured": arena_measured, "arena_bytes": arena_bytes,
        "arena_margin_pct": round(margin * 100), "resolver_calls": list(ops.resolver_calls),
        "builtin_ops": list(ops.kernels), "max_payload": SERIAL_MAX_PAYLOAD, "baud": SERIAL_BAUD,
        "state_interval_s": STATE_INTERVAL_S,
    }


def _write_project(out: Path, family: str, context: dict, tflite: bytes, device: dict | None = None,
                   monocypher: Path | None = None) -> list[str]:
    """The family's templates, the shared sources and the model (as a file on Linux, as a C array on a
    microcontroller); the files written, relative to `out`."""
    env = _environment()
    spec_family = FAMILIES[family]
    written: list[str] = []

    def write(relative: str, text: str | bytes) -> None:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
        written.append(str(Path(relative)))

    def write_family() -> None:
        for name in _template_files(family):
            relative = name.split("/", 1)[1]
            if relative.endswith(".j2"):
                write(relative[:-3], env.get_template(name).render(context))
            else:
                write(relative, (TEMPLATES / name).read_bytes())

    if spec_family.source_dir is None:
        write_family()
        write("model.tflite", tflite)
        if device:
            write(model_meta.JSON, model_meta.meta_json(device))
        for script in ("run.py", "run.sh"):
            (out / script).chmod(0o755)
        return written
    src = Path(spec_family.source_dir)
    ext = spec_family.cxx_ext
    context = {**context, "cxx_ext": ext}
    for name in _template_files(CORE_FAMILY):  # the portable core, as the board's build system names C++
        relative = Path(name).name
        write(str(src / (relative[:-3] + ext if relative.endswith(".cc") else relative)),
              (TEMPLATES / name).read_bytes())
    if monocypher is not None:  # copied into the rendered project (the user's artifact), never the repository
        for name in MONOCYPHER_FILES:
            write(str(src / Path(name).name), (monocypher / name).read_bytes())
    for name in _template_files("common"):
        if not name.endswith(".j2") or name.endswith(".inc.j2"):
            continue  # includes are pulled in by the targets' main files
        relative = name.split("/", 1)[1][:-3]
        if relative.endswith(".cc"):
            relative = relative[:-3] + ext
        if Path(relative).stem == USER_FILE_STEM and Path(relative).suffix == ext and (out / src / relative).exists():
            continue  # the user's application: created once, never overwritten
        write(str(src / relative), env.get_template(name).render(context))
    array = c_array(tflite, MODEL_SYMBOL, header_name="model_data.h")
    write(str(src / "model_data.h"), array.header)
    write(str(src / f"model_data{ext}"), array.source)
    if device:
        write(str(src / model_meta.HEADER), model_meta.meta_header(device))
    context["sources"] = _compiled_sources(out / src, family, src)
    write_family()
    return written


def _compiled_sources(folder: Path, family: str, src: Path) -> list[str]:
    """The C and C++ files a CMake project lists: those in its source folder and the family's own."""
    names = {p.name for p in folder.iterdir() if p.suffix in (".c", ".cc", ".cpp")}
    for name in _template_files(family):
        relative = Path(name.split("/", 1)[1].removesuffix(".j2"))
        if relative.parent == src and relative.suffix in (".c", ".cc", ".cpp"):
            names.add(relative.name)
    return sorted(names)
