"""The emulated board's real firmware: Origami's portable device core (`firmware_templates/device_core/`:
serial protocol, Ed25519-signed manifests checked with Monocypher, SHA-256, two model slots, trial
boot with a probe inference, confirm or roll back) over the QEMU HAL (`firmware_templates/qemu-device/`),
linked against the cached TFLM library with a fixed op resolver and arena.

The image carries no model: models arrive over the serial link (docs/serial.md), so one image serves
every model whose operators it registers. The controller's public key is compiled in (a rendered
header); Monocypher is compiled from the third-party tree, never copied into the project.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.firmware.qemu import STACK_BYTES
from controller.firmware.qemu import EmulatedBoard
from controller.firmware.qemu import QemuImage
from controller.firmware.qemu import QemuProject
from controller.firmware.qemu import build_qemu_image
from controller.firmware.qemu import emulated_board
from controller.firmware.render import TEMPLATES
from controller.firmware.render import _environment
from controller.firmware.render import _fresh_directory
from controller.firmware.render import _template_files
from controller.firmware.tflm_library import TflmLibrary
from controller.firmware.tflm_library import ThirdParty
from controller.firmware.tflm_library import build_tflm_library
from controller.firmware.tflm_library import third_party_root
from runtimes.operators import resolver_method
from specs.errors import StageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from wire import __version__ as origami_version
from wire.manifests import key_id

CORE_FAMILY = "device_core"
HAL_FAMILY = "qemu-device"
# The board's flash keeps the image at its start and the model storage (a 4 KiB metadata page and two
# slots) after it: 768 KiB of the Nano 33's 1 MiB, so a slot holds a model of about 380 KiB.
STORAGE_BYTES = 768 * 1024
DEFAULT_OPERATORS = ("FULLY_CONNECTED",)
# The kernels of the kws-dscnn preset converted to int8: an image for keyword spotting runs every
# DS-CNN the preset makes, whatever its widths (make demo-kws, tests/test_kws_loop.py).
KWS_OPERATORS = ("AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX")
# The emulated boards take a whole second of 16 kHz int16 PCM in one AUDIO_INFER frame (64 B of front-end
# parameters + 32,000 B), so their serial buffer is larger than a rendered board's (SERIAL_MAX_PAYLOAD).
AUDIO_MAX_PAYLOAD = 32 * 1024 + 64
# origami_audio.c's tables and work buffers at its ORIGAMI_AUDIO_MAX_* bounds (about 46 KiB) and the
# 4 KiB feature image the core feeds the model.
AUDIO_RAM_BYTES = 52 * 1024
# The fixed tensor arena: the board's RAM less the serial receive and reply buffers, the stack, the audio
# front end and the rest of the firmware's statics (measured: about 12 KiB with the runner and the core).
FIRMWARE_RAM_RESERVE = 2 * AUDIO_MAX_PAYLOAD + STACK_BYTES + AUDIO_RAM_BYTES + 16 * 1024
MONOCYPHER_SOURCES = ("src/monocypher.c", "src/optional/monocypher-ed25519.c")


@dataclass(frozen=True)
class DeviceImage:
    """A built device-core image and what went into it."""

    board: EmulatedBoard
    image: QemuImage
    library: TflmLibrary
    operators: tuple[str, ...]
    arena_bytes: int
    key_id: str

    @property
    def elf(self) -> Path:
        return self.image.elf


def default_arena_bytes(board: EmulatedBoard) -> int:
    return (board.ram_bytes - FIRMWARE_RAM_RESERVE) // 16 * 16


def render_device_project(board: EmulatedBoard, out_dir: str | Path, public_key: Ed25519PublicKey, *,
                          operators: tuple[str, ...] = DEFAULT_OPERATORS, arena_bytes: int | None = None,
                          default_device_id: str | None = None) -> QemuProject:
    """Render the device core, the QEMU HAL, the board's linker script and the rendered headers."""
    spec = BUILTIN_PROFILES[board.profile].spec
    if board.flash_bytes <= STORAGE_BYTES:
        raise StageError(f"{board.profile} has {board.flash_bytes} B of flash, too little for {STORAGE_BYTES} B "
                         "of model slots")
    arena = arena_bytes or default_arena_bytes(board)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    usb = spec.usb[0] if spec.usb else None
    ops = tuple(sorted(set(operators)))
    context = {
        "origami_version": origami_version, "board": spec.board, "machine": board.machine, "profile": board.profile,
        "cpu": f"{spec.cpu}, emulated on QEMU {board.machine} ({board.core})",
        "usb": f'"{usb.vid:04x}:{usb.pid:04x}"' if usb else "0",
        "firmware_version": origami_version, "default_device_id": default_device_id or f"{board.profile}-qemu",
        "flash": board.flash_bytes, "ram": board.ram_bytes, "stack_bytes": STACK_BYTES, "storage_bytes": STORAGE_BYTES,
        "max_payload": AUDIO_MAX_PAYLOAD, "arena_bytes": arena, "key_id": key_id(public_key),
        "public_key_bytes": ", ".join(f"0x{b:02x}" for b in raw),
        "resolver_calls": [resolver_method(op) for op in ops],
    }
    out = _fresh_directory(Path(out_dir))
    env = _environment()
    names = (_template_files(CORE_FAMILY) + _template_files(HAL_FAMILY)
             + ["qemu/startup.c", "qemu/origami_uart.h", "qemu/origami_ticks.c", "qemu/origami_ticks.h",
                "qemu/link.ld.j2", "common/op_resolver.h.j2"])
    for name in names:
        target = out / Path(name).name.removesuffix(".j2")
        if name.endswith(".j2"):
            target.write_text(env.get_template(name).render(context))
        else:
            shutil.copyfile(TEMPLATES / name, target)
    return QemuProject(board, out, ops, arena, 0)


def build_device_image(board_name: str, public_key: Ed25519PublicKey, *, cache_dir: str | Path,
                       work_dir: str | Path, operators: tuple[str, ...] = DEFAULT_OPERATORS,
                       arena_bytes: int | None = None, third_party: ThirdParty | None = None,
                       kernel_set: str = "reference") -> DeviceImage:
    """Render and link the device-core image for an emulated board (TFLM from the cache when there),
    with TFLM's reference kernels or CMSIS-NN's."""
    board = emulated_board(board_name)
    tp = third_party or third_party_root()
    monocypher = tp.root / "monocypher"
    sources = tuple(monocypher / s for s in MONOCYPHER_SOURCES)
    if not all(s.is_file() for s in sources):
        raise StageError("no Monocypher sources in the third-party tree (monocypher/src at 4.0.3); "
                         "the device's signature check needs them")
    project = render_device_project(board, work_dir, public_key, operators=operators, arena_bytes=arena_bytes)
    library = build_tflm_library(board.core, project.builtin_ops, cache_dir, third_party=tp, kernel_set=kernel_set)
    image = build_qemu_image(project, library, extra_sources=sources,
                             extra_includes=(monocypher / "src", monocypher / "src" / "optional"))
    return DeviceImage(board, image, library, project.builtin_ops, project.arena_bytes, key_id(public_key))
