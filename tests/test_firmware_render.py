"""Firmware projects rendered from a real int8 .tflite: every template, the model array, the op resolver."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from controller.firmware.c_array import c_array
from controller.firmware.render import FAMILIES
from controller.firmware.render import arena_with_margin
from controller.firmware.render import render_firmware
from controller.firmware.render import template_family
from runtimes.operators import model_operators
from runtimes.operators import resolver_method
from specs.errors import StageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.firmware_rig import needs_third_party
from tests.firmware_rig import third_party_missing
from tests.tiny_tflite import dense_int8

ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None,
                                   reason="arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")


@pytest.fixture(scope="session")
def tflite() -> bytes:
    return dense_int8()


@pytest.fixture(scope="session")
def arena(tflite) -> int:
    from runtimes.tflm import measure_arena

    return measure_arena(tflite).arena_bytes


def test_operators_are_read_from_the_flatbuffer(tflite):
    ops = model_operators(tflite)
    assert ops.builtin == ("FULLY_CONNECTED", "SOFTMAX")
    assert ops.resolver_calls == ("AddFullyConnected", "AddSoftmax")
    assert [resolver_method(n) for n in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D")] == [
        "AddConv2D", "AddDepthwiseConv2D", "AddMaxPool2D"]


def test_garbage_is_not_a_model():
    with pytest.raises(StageError, match="TFL3"):
        model_operators(b"\x00" * 64)


@pytest.mark.parametrize("profile_name", sorted(BUILTIN_PROFILES))
def test_every_template_renders_a_complete_project(tflite, arena, tmp_path, profile_name):
    profile = BUILTIN_PROFILES[profile_name]
    project = render_firmware(tflite, profile, tmp_path / "fw", version="7.1.0", arena_measured=arena)
    family = template_family(profile)
    assert project.family == family
    texts = {name: (tmp_path / "fw" / name).read_bytes() for name in project.files}
    if family == "linux":
        assert texts["model.tflite"] == tflite
        manifest = json.loads(texts["manifest.json"])
        assert manifest["version"] == "7.1.0" and manifest["model"]["size"] == len(tflite)
        assert manifest["operators"] == ["FULLY_CONNECTED", "SOFTMAX"]
        return
    src = FAMILIES[family].source_dir
    resolver = texts[f"{src}/op_resolver.h".lstrip("./")].decode()
    assert re.findall(r"resolver\.(Add\w+)\(\)", resolver) == ["AddFullyConnected", "AddSoftmax"]
    assert "MicroMutableOpResolver<kOrigamiOperatorCount>" in resolver and "= 2;" in resolver
    config = texts[f"{src}/origami_device_config.h".lstrip("./")].decode()
    assert '#define ORIGAMI_FIRMWARE_VERSION "7.1.0"' in config
    assert f"#define ORIGAMI_ARENA_BYTES {arena_with_margin(arena)}u" in config
    assert arena_with_margin(arena) > arena and arena_with_margin(arena) % 16 == 0
    model_source = next(v.decode() for k, v in texts.items() if re.search(r"model_data\.(cc|cpp)$", k))
    assert "alignas(16) const unsigned char g_origami_model[]" in model_source
    main = next(v.decode() for k, v in texts.items() if re.search(r"(main\.cc|\.ino)$", k))
    assert "origami_core_boot()" in main and "origami_app_setup()" in main and "{{" not in main


def test_a_model_larger_than_the_boards_ram_is_refused_at_render(tflite, tmp_path):
    with pytest.raises(StageError, match="needs a 368640 B arena, the board has 253888 B of RAM for it"):
        render_firmware(tflite, BUILTIN_PROFILES["nano33ble"], tmp_path / "fw", version="1",
                        arena_measured=300 * 1024)


@needs_arm_gcc
def test_model_array_compiles_for_cortex_m4_and_its_section_is_the_model(tflite, arena, tmp_path):
    project = render_firmware(tflite, BUILTIN_PROFILES["pico"], tmp_path / "fw", version="1", arena_measured=arena)
    src = project.directory / "src"
    obj = tmp_path / "model_data.o"
    subprocess.run(["arm-none-eabi-gcc", "-c", "-mcpu=cortex-m4", "-mthumb", "-O2", "-fdata-sections",
                    str(src / "model_data.cc"), "-o", str(obj)], check=True, capture_output=True, text=True)
    sizes = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], check=True, capture_output=True, text=True).stdout
    model_section = re.search(r"^\.rodata\.g_origami_model\s+(\d+)", sizes, re.M)
    assert model_section and int(model_section.group(1)) == len(tflite)
    sections = subprocess.run(["readelf", "-S", "-W", str(obj)], check=True, capture_output=True, text=True).stdout
    line = next(s for s in sections.splitlines() if ".rodata.g_origami_model " in s + " " and "_len" not in s)
    assert int(line.split()[-1]) == 16  # sh_addralign: the array starts on a 16-byte boundary
    # The section holds exactly the model bytes; a linker pads before it to the 16-byte boundary.
    dump = tmp_path / "model.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "--only-section=.rodata.g_origami_model",
                    str(obj), str(dump)], check=True)
    assert dump.read_bytes() == tflite


@needs_arm_gcc
@needs_third_party
def test_device_core_compiles_cleanly_for_cortex_m0plus(tflite, arena, tmp_path):
    project = render_firmware(tflite, BUILTIN_PROFILES["pico"], tmp_path / "fw", version="1", arena_measured=arena)
    src = project.directory / "src"
    for name in ("origami_core.c", "origami_frame.c", "origami_json.c", "origami_sha256.c", "origami_flash.c"):
        result = subprocess.run(["arm-none-eabi-gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c",
                                 "-mcpu=cortex-m0plus", "-mthumb", "-O2", f"-I{src}", str(src / name),
                                 "-o", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_c_array_alignment_and_unaligned_sizes():
    array = c_array(bytes(range(21)), "g_x")
    assert "alignas(16) const unsigned char g_x[]" in array.source
    assert array.source.count("0x") == 21 and "g_x_len = 21;" in array.source
    assert '#include "g_x.h"' in array.source
    with pytest.raises(ValueError):
        c_array(b"\x00", "not an identifier")


def test_without_a_toolchain_the_result_says_the_project_is_the_artifact(tflite, arena, tmp_path, monkeypatch):
    from controller.firmware.toolchains import build_firmware

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # hide every toolchain
    monkeypatch.delenv("PICO_SDK_PATH", raising=False)
    project = render_firmware(tflite, BUILTIN_PROFILES["pico"], tmp_path / "fw", version="1", arena_measured=arena)
    result = build_firmware(project)
    assert result.status == "rendered"
    assert result.artifact == project.directory
    # The first thing missing is named: the SDK, or, without the third-party tree, Monocypher's sources.
    assert ("PICO_SDK_PATH is not set" if third_party_missing() is None else "Monocypher") in result.reason
