"""The real boards' rendered projects carry the device core: each family (Arduino Mbed, pico-sdk,
ESP-IDF, coralmicro) is rendered and its C and C++ (the core, the board HAL, the main file, the
user's application file) is compiled with `arm-none-eabi-gcc -fsyntax-only` against stub SDK headers
(tests/firmware_stubs/, the SDKs' own names and signatures), since the SDKs are not installed here.
Also: a re-render keeps the user's file, the Arduino library pin, the Pico's binary-mode stdio, the
controller key in the firmware, and the page writer the flash HALs share (compiled for the host)."""
from __future__ import annotations

import ctypes
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.firmware.render import ARDUINO_TFLM_COMMIT
from controller.firmware.render import FAMILIES
from controller.firmware.render import TEMPLATES
from controller.firmware.render import render_firmware
from controller.firmware.render import storage_layout
from controller.firmware.toolchains import build_firmware
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.firmware_rig import needs_third_party
from tests.tiny_tflite import dense_int8
from wire.manifests import key_id

STUBS = Path(__file__).parent / "firmware_stubs"
ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None,
                                   reason="arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")
# Board -> (stub folder, CPU flags). The ESP32-S3 is Xtensa: its HAL is checked as portable C here.
BOARDS = {
    "nano33ble": ("arduino", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
    "pico": ("pico", ("-mcpu=cortex-m0plus", "-mthumb")),
    "esp32s3": ("esp32", ("-mcpu=cortex-m4", "-mthumb")),
    "coral-micro": ("coral", ("-mcpu=cortex-m7", "-mthumb")),
}


@pytest.fixture(scope="module")
def tflite() -> bytes:
    return dense_int8()


@pytest.fixture(scope="module")
def controller_key():
    return Ed25519PrivateKey.generate().public_key()


def render(tflite, board, out, key, **kwargs):
    return render_firmware(tflite, BUILTIN_PROFILES[board], out, version="1", arena_measured=2048,
                           public_key=key, **kwargs)


def source_dir(project) -> Path:
    return project.directory / FAMILIES[project.family].source_dir


def syntax_check(compiler: str, flags: tuple[str, ...], files: list[Path], includes: list[Path],
                 language: tuple[str, ...]) -> None:
    for path in files:
        result = subprocess.run([compiler, "-fsyntax-only", *language, *flags, "-Wall", "-Wextra", "-Werror",
                                 *(f"-I{i}" for i in includes), str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path.name}:\n{result.stderr[-3000:]}"


@needs_arm_gcc
@pytest.mark.parametrize("board", sorted(BOARDS))
@needs_third_party
def test_the_device_core_and_the_board_hal_compile_against_the_sdk_headers(tflite, controller_key, tmp_path, board):
    stubs, cpu = BOARDS[board]
    project = render(tflite, board, tmp_path / "fw", controller_key)
    src = source_dir(project)
    includes = [src, STUBS / stubs]
    ours = [p for p in sorted(src.iterdir()) if p.name.startswith("origami_") or p.name.startswith("main.")
            or p.suffix == ".ino"]
    c_files = [p for p in ours if p.suffix == ".c"]
    cxx_files = [p for p in ours if p.suffix in (".cc", ".cpp", ".ino") and p.stem != "origami_runner"]
    hal = [p.name for p in ours if p.stem.startswith("origami_hal_")]
    assert len(hal) == 1, hal  # one HAL per board, beside the portable core
    assert {"origami_core.c", "origami_frame.c", "origami_json.c", "origami_sha256.c", "origami_flash.c"} <= \
        {p.name for p in c_files}
    syntax_check("arm-none-eabi-gcc", cpu, c_files, includes, ("-std=c11",))
    syntax_check("arm-none-eabi-g++", cpu, cxx_files, includes, ("-x", "c++", "-std=c++17"))
    # Monocypher comes from the third-party tree, into the rendered project (never the repository).
    assert (src / "monocypher.c").is_file() and (src / "monocypher-ed25519.h").is_file()
    syntax_check("arm-none-eabi-gcc", cpu, [src / "monocypher.c", src / "monocypher-ed25519.c"], includes,
                 ("-std=c99",))


@needs_arm_gcc
@needs_third_party
def test_the_runner_compiles_against_tflm(tflite, controller_key, tmp_path):
    from controller.firmware.tflm_library import third_party_root

    tp = third_party_root()
    project = render(tflite, "pico", tmp_path / "fw", controller_key)
    src = source_dir(project)
    result = subprocess.run(["arm-none-eabi-g++", "-fsyntax-only", "-std=c++17", "-mcpu=cortex-m0plus", "-mthumb",
                             "-fno-exceptions", "-fno-rtti", "-DTF_LITE_STATIC_MEMORY", f"-I{src}", *tp.includes(),
                             str(src / "origami_runner.cc")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@needs_third_party
def test_the_firmware_trusts_exactly_the_controller_key(tflite, controller_key, tmp_path):
    project = render(tflite, "nano33ble", tmp_path / "fw", controller_key)
    config = (source_dir(project) / "origami_device_config.h").read_text()
    raw = controller_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert f'#define ORIGAMI_KEY_ID "{key_id(controller_key)}"' in config
    assert ", ".join(f"0x{b:02x}" for b in raw) in config
    assert "ORIGAMI_OTA_MODEL_UPDATES" not in "".join(p.read_text() for p in source_dir(project).glob("origami_*"))
    offset, size = storage_layout(BUILTIN_PROFILES["nano33ble"].spec.flash)
    assert (offset, size) == (0x80000, 512 * 1024)
    assert f"#define ORIGAMI_STORAGE_OFFSET {offset:#x}u" in config and project.notes == ()

    unkeyed = render(tflite, "nano33ble", tmp_path / "unkeyed", None)
    assert '#define ORIGAMI_KEY_ID "unprovisioned"' in (source_dir(unkeyed) / "origami_device_config.h").read_text()
    assert any("refuses every model update" in note for note in unkeyed.notes)


def test_a_re_render_keeps_the_users_application_file(tflite, controller_key, tmp_path):
    out = tmp_path / "fw"
    first = render(tflite, "pico", out, controller_key)
    app = source_dir(first) / "origami_app.cc"
    template = app.read_text()
    assert "origami_on_output(const uint8_t* output, uint32_t len, uint32_t cycles)" in template
    app.write_text(template + "\n// my sensor code\n")
    (source_dir(first) / "origami_device_config.h").write_text("stale")
    second = render(tflite, "pico", out, controller_key)
    assert app.read_text().endswith("// my sensor code\n")  # the user's file is untouched
    assert "src/origami_app.cc" not in second.files
    assert "ORIGAMI_KEY_ID" in (source_dir(second) / "origami_device_config.h").read_text()  # generated: rewritten
    nano = render(tflite, "nano33ble", tmp_path / "nano", controller_key)
    assert (source_dir(nano) / "origami_app.cpp").is_file()  # Arduino compiles .cpp, not .cc


def test_a_directory_that_is_not_a_project_is_not_rendered_into(tflite, controller_key, tmp_path):
    from specs.errors import StageError

    (tmp_path / "fw").mkdir()
    (tmp_path / "fw" / "notes.txt").write_text("mine")
    with pytest.raises(StageError, match="not empty"):
        render(tflite, "pico", tmp_path / "fw", controller_key)


def test_the_arduino_sketch_pins_its_tflm_library(tflite, controller_key, tmp_path):
    project = render(tflite, "nano33ble", tmp_path / "fw", controller_key)
    sketch = (project.directory / "origami_firmware" / "sketch.yaml").read_text()
    assert "- dir: ../libraries/Arduino_TensorFlowLite" in sketch and ARDUINO_TFLM_COMMIT in sketch
    readme = (project.directory / "libraries" / "README.md").read_text()
    assert f"checkout {ARDUINO_TFLM_COMMIT}" in readme and len(ARDUINO_TFLM_COMMIT) == 40


def test_the_pico_serial_link_is_binary(tflite, controller_key, tmp_path):
    project = render(tflite, "pico", tmp_path / "fw", controller_key)
    hal = (project.directory / "src" / "origami_hal_pico.c").read_text()
    cmake = (project.directory / "CMakeLists.txt").read_text()
    assert "stdio_set_translate_crlf(&stdio_usb, false)" in hal and "putchar_raw(" in hal
    assert "fwrite" not in hal and "PICO_STDIO_DEFAULT_CRLF=0" in cmake
    listed = {line.strip() for line in cmake.splitlines() if line.strip().startswith("src/")}
    on_disk = {f"src/{p.name}" for p in (project.directory / "src").iterdir() if p.suffix in (".c", ".cc")}
    assert listed == on_disk  # every source compiled, none forgotten


def test_the_esp32_storage_is_a_partition_the_hal_maps(tflite, controller_key, tmp_path):
    project = render(tflite, "esp32s3", tmp_path / "fw", controller_key)
    offset, size = storage_layout(BUILTIN_PROFILES["esp32s3"].spec.flash)
    table = (project.directory / "partitions.csv").read_text()
    assert f"origami,  data, 0x40,    {offset:#x}, {size:#x}" in table
    sdkconfig = (project.directory / "sdkconfig.defaults").read_text()
    assert 'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"' in sdkconfig


def test_without_monocypher_the_build_says_what_is_missing(tflite, controller_key, tmp_path, monkeypatch):
    monkeypatch.setenv("PICO_SDK_PATH", str(tmp_path))  # as if the SDK were there
    project = render(tflite, "pico", tmp_path / "fw", controller_key, monocypher=tmp_path / "no-monocypher")
    result = build_firmware(project)
    assert result.status == "rendered" and "Monocypher" in result.reason and "ORIGAMI_THIRD_PARTY" in result.reason


@pytest.fixture(scope="module")
def flash_writer(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("needs a host C compiler (gcc)")
    out = tmp_path_factory.mktemp("flash") / "libflash.so"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", str(TEMPLATES / "device_core" /
                                                                          "origami_flash.c"), "-o", str(out)],
                   check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(out))


@pytest.mark.parametrize("page", [4, 256])
def test_unaligned_writes_become_whole_page_programs(flash_writer, page):
    """NOR flash semantics (programming only clears bits): every program call is one whole aligned page,
    and the region ends up holding exactly the bytes written, however they were split."""
    size = 4096
    flash = bytearray(b"\xff" * size)
    mapped = (ctypes.c_uint8 * size).from_buffer(flash)
    calls: list[tuple[int, int]] = []

    def program(offset, data, length):
        calls.append((offset, length))
        chunk = ctypes.string_at(data, length)
        for i, byte in enumerate(chunk):
            flash[offset + i] &= byte
        return 0

    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)(program)
    rng = random.Random(page)
    expected = bytearray(b"\xff" * size)
    at = 3
    while at < size - 700:
        n = rng.randint(1, 600)
        data = rng.randbytes(n)
        assert flash_writer.origami_flash_write(mapped, ctypes.c_uint32(at), data, ctypes.c_uint32(n),
                                                ctypes.c_uint32(page), callback) == 0
        expected[at:at + n] = data
        at += n
    assert bytes(flash) == bytes(expected)
    assert all(offset % page == 0 and length == page for offset, length in calls)
    assert flash_writer.origami_flash_write(mapped, 0, b"x", 1, 3, callback) == -1  # not a power of two


# The core over a host HAL (RAM storage, captured output) and a stand-in runner: the firmware's own model
# installed at first boot, not again, a new one after a firmware change, and the application's callback.


@pytest.fixture
def host_board(tflite, controller_key, tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("needs a host C compiler (gcc)")
    project = render(tflite, "pico", tmp_path / "fw", controller_key)
    src = source_dir(project)
    if not (src / "monocypher.c").is_file():
        pytest.skip("no Monocypher in the third-party tree")
    sources = [src / f"{name}.c" for name in ("origami_core", "origami_frame", "origami_json", "origami_sha256",
                                              "monocypher", "monocypher-ed25519")]
    lib = tmp_path / "libboard.so"
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", f"-I{src}", *map(str, sources), str(STUBS / "host_board.c"),
                    "-o", str(lib)], check=True, capture_output=True, text=True)
    board = ctypes.CDLL(str(lib))
    board.test_blank_storage()
    return board


def boot(board, model: bytes, version: str) -> list:
    from device.serial_frames import FrameDecoder

    ctypes.c_uint32.in_dll(board, "out_len").value = 0
    board.origami_core_set_factory_model(model, ctypes.c_uint32(len(model)), version.encode())
    board.origami_core_boot()
    return frames_out(board, FrameDecoder())


def frames_out(board, decoder) -> list:
    n = ctypes.c_uint32.in_dll(board, "out_len").value
    data = bytes((ctypes.c_uint8 * 65536).in_dll(board, "out")[:n])
    ctypes.c_uint32.in_dll(board, "out_len").value = 0
    return decoder.feed(data)


def events(frames) -> list[str]:
    from device.serial_frames import FrameType

    return [f.json()["reason"] for f in frames if f.type is FrameType.EVENT]


def state_of(frames) -> dict:
    from device.serial_frames import FrameType

    return [f.json() for f in frames if f.type is FrameType.STATE][-1]


def test_the_firmwares_model_is_installed_once_and_the_application_hears_every_output(host_board, tflite):
    import hashlib

    from device.serial_frames import FrameDecoder
    from device.serial_frames import FrameType
    from device.serial_frames import encode_frame

    first = boot(host_board, tflite, "fw-1")
    assert events(first) == ["Installed"]
    assert state_of(first)["activeSlot"] == "a" and state_of(first)["modelDigest"] == hashlib.sha256(tflite).hexdigest()
    assert events(boot(host_board, tflite, "fw-1")) == []  # a reboot does not reinstall it

    newer = tflite + b"\0"  # a firmware flashed with another model
    second = boot(host_board, newer, "fw-2")
    assert events(second) == ["Installed"] and state_of(second)["activeSlot"] == "b"
    assert state_of(second)["modelVersion"] == "fw-2"

    broken = b"\0" * 64
    third = boot(host_board, broken, "fw-3")
    assert events(third) == ["RolledBack"] and state_of(third)["modelDigest"] == hashlib.sha256(newer).hexdigest()
    assert events(boot(host_board, broken, "fw-3")) == []  # a model it already tried is not retried

    assert host_board.origami_core_infer(b"\x07\x00\x00\x09", ctypes.c_uint32(4)) == 0
    assert host_board.origami_core_infer(b"\x07", ctypes.c_uint32(1)) == -1
    stream = encode_frame(FrameType.INFER, b"\x05\x00\x00\x06")
    host_board.test_feed(stream, ctypes.c_uint32(len(stream)))
    host_board.origami_core_poll()
    results = [f for f in frames_out(host_board, FrameDecoder()) if f.type is FrameType.INFER_RESULT]
    assert results and results[0].payload[0] == 0 and results[0].payload[5:] == b"\x05\x06"
    assert ctypes.c_uint32.in_dll(host_board, "outputs_seen").value == 2  # the application's and the gateway's
    assert bytes((ctypes.c_uint8 * 2).in_dll(host_board, "last_output")) == b"\x05\x06"
