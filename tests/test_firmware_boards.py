"""Emulated boards beyond the Nano 33 and the workloads on them: the Pico (ARMv6-M code on QEMU's
Cortex-M3, mps2-an385) and the Coral Dev Board Micro (Cortex-M7, mps2-an500), each linked with the
real board's memory; CMSIS-NN kernels against TFLM's reference ones on the digits int8 CNN, with the
instructions per inference QEMU counts; a LUT-compressed model (TFLM's DECODE) on the emulated Nano 33.
Every output is compared with the host TFLM interpreter's, bit for bit.

Slow: each new (core, kernel set, operators) is a cold TFLM library build of about 40 s on two cores
(CMSIS-NN adds its ~130 C files, about a minute more); `pytest -m slow`. The libraries are cached in
the session's firmware cache (ORIGAMI_TEST_FIRMWARE_CACHE keeps them between sessions).
"""
from __future__ import annotations

import numpy as np
import pytest

from controller.firmware.device_image import build_device_image
from controller.firmware.qemu import EMULATED_BOARDS
from controller.firmware.qemu import build_qemu_image
from controller.firmware.qemu import emulated_board
from controller.firmware.qemu import instructions_from_ticks
from controller.firmware.qemu import render_qemu_project
from controller.firmware.qemu import run_on_emulated_board
from controller.firmware.tflm_library import build_tflm_library
from controller.firmware.tflm_library import kernel_sources
from controller.firmware.tflm_library import third_party_root
from device.gateway.emulated import QemuBoard
from device.gateway.serial_link import BoardLink
from runtimes.tflm import measure_arena
from runtimes.tflm import run_tflm
from specs.errors import StageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.device_rig import SINE
from tests.firmware_rig import digits_int8_cnn
from tests.firmware_rig import firmware_tools_missing
from tests.firmware_rig import input_bytes
from tests.firmware_rig import lut_compressed_mlp

needs_tools = pytest.mark.skipif(bool(firmware_tools_missing()), reason=firmware_tools_missing() or "")
SINE_INPUTS = np.array([[0.0], [1.5], [3.0], [5.5]], dtype=np.float32)


def _on_board(model: bytes, board: str, x: np.ndarray, cache, work, *, inputs_of: bytes | None = None, **kwargs):
    """The device's outputs (shaped like the host's) and the host TFLM interpreter's, and the run."""
    arena = measure_arena(model).arena_bytes
    host = run_tflm(model, x, arena, dequantize=False)
    result = run_on_emulated_board(model, board, input_bytes(inputs_of or model, x), cache_dir=cache, work_dir=work,
                                   arena_measured=arena, **kwargs)
    device = np.stack([np.frombuffer(o, dtype=host.dtype) for o in result.run.outputs]).reshape(host.shape)
    return device, host, result


def test_instruction_count_follows_qemus_icount_clock():
    # -icount shift=6: 64 ns of virtual time per instruction; SysTick at 25 MHz: 40 ns per tick.
    # Measured on mps2-an385/an386/an500: a loop of 2,000,000 instructions read 3,200,000 ticks.
    assert instructions_from_ticks(3_200_000) == 2_000_000
    assert instructions_from_ticks(0) == 0


@needs_tools
def test_cmsis_nn_kernels_replace_the_reference_ones_by_name():
    tflm = third_party_root().tflm
    ops = ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    reference = {p.relative_to(tflm / "tensorflow/lite/micro/kernels").as_posix() for p in kernel_sources(tflm, ops)}
    optimized = {p.relative_to(tflm / "tensorflow/lite/micro/kernels").as_posix()
                 for p in kernel_sources(tflm, ops, "cmsis_nn")}
    assert {f"cmsis_nn/{k}.cc" for k in ("conv", "fully_connected", "pooling", "softmax")} <= optimized
    assert "conv.cc" in reference and "conv.cc" not in optimized
    assert "reshape.cc" in optimized and "pooling_common.cc" in optimized  # no CMSIS-NN file: the reference


@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("board", ["pico", "coralmicro"])
def test_sine_on_the_emulated_board_equals_host_tflm(board, firmware_cache, tmp_path):
    device, host, result = _on_board(SINE.read_bytes(), board, SINE_INPUTS, firmware_cache, tmp_path / "fw")
    assert device.tobytes() == host.tobytes()
    emulated = EMULATED_BOARDS[board]
    assert result.library.core == emulated.core
    assert result.image.flash_bytes <= emulated.flash_bytes and result.image.ram_bytes <= emulated.ram_bytes
    assert all(i > 1000 for i in result.run.instructions)  # counted, not zero


@pytest.mark.slow
@needs_tools
def test_an_image_too_large_for_the_pico_fails_with_the_boards_figures(firmware_cache, tmp_path):
    board = emulated_board("pico")
    model = SINE.read_bytes()
    library = build_tflm_library(board.core, ["FULLY_CONNECTED"], firmware_cache)
    # An arena of 300 KB: more than the Pico's 264 KB of RAM.
    project = render_qemu_project(model, board, tmp_path / "ram", samples=[SINE_INPUTS[0].tobytes()],
                                  arena_measured=300 * 1024)
    with pytest.raises(StageError, match=r"RAM short by [\d,]+ B.*270,336 B of RAM") as err:
        build_qemu_image(project, library)
    assert str(tmp_path) not in str(err.value)
    # A model of 2.1 MB (a flatbuffer ignores trailing bytes): more than its 2 MB of flash.
    padded = model + bytes(2_100_000)
    project = render_qemu_project(padded, board, tmp_path / "flash", samples=[SINE_INPUTS[0].tobytes()],
                                  arena_measured=2048)
    with pytest.raises(StageError, match=r"FLASH short by [\d,]+ B.*2,097,152 B of flash"):
        build_qemu_image(project, library)


@pytest.mark.slow
@needs_tools
def test_digits_int8_cnn_with_cmsis_nn_equals_reference_and_host_with_fewer_instructions(firmware_cache, tmp_path):
    model, x_test, _ = digits_int8_cnn()
    x = x_test[:6]
    reference, host, ref_run = _on_board(model, "nano33ble", x, firmware_cache, tmp_path / "ref")
    cmsis, _, cmsis_run = _on_board(model, "nano33ble", x, firmware_cache, tmp_path / "cmsis", kernel_set="cmsis_nn")
    assert reference.tobytes() == host.tobytes()
    assert cmsis.tobytes() == host.tobytes()  # int8: CMSIS-NN's arithmetic is TFLM's reference arithmetic
    assert cmsis_run.library.kernel_set == "cmsis_nn" and cmsis_run.library.key != ref_run.library.key
    assert max(cmsis_run.run.instructions) < min(ref_run.run.instructions)


@pytest.mark.slow
@needs_tools
def test_lut_compressed_model_decodes_on_the_emulated_nano33_like_host_tflm(firmware_cache, tmp_path):
    model, plain = lut_compressed_mlp()
    x = np.random.default_rng(3).random((5, 64), dtype=np.float32)
    device, host, result = _on_board(model, "nano33ble", x, firmware_cache, tmp_path / "fw", inputs_of=plain)
    assert "DECODE" in result.library.kernels
    assert device.tobytes() == host.tobytes()


@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("board", ["pico", "coralmicro"])
def test_device_core_image_boots_on_the_emulated_board_and_says_hello(board, firmware_cache, ota_key, tmp_path):
    image = build_device_image(board, ota_key.public_key(), cache_dir=firmware_cache, work_dir=tmp_path / "image")
    emulated = image.board
    spec = BUILTIN_PROFILES[emulated.profile].spec
    qemu = QemuBoard(emulated.machine, image.elf, tmp_path / "board", f"{board}-qemu-0")
    qemu.start()
    link = BoardLink(qemu.port)
    try:
        hello, state = link.query()
    finally:
        link.close()
        qemu.stop()
    assert hello["profile"] == emulated.profile and hello["board"] == spec.board
    assert hello["ram"] == emulated.ram_bytes and hello["deviceId"] == f"{board}-qemu-0"
    assert hello["cpu"] == f"{spec.cpu}, emulated on QEMU {emulated.machine} ({emulated.core})"
    assert state["modelDigest"] is None
