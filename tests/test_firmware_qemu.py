"""The sine model on the emulated Nano 33: TFLM compiled for the Cortex-M4F, linked into the board's
flash and RAM, run on QEMU mps2-an386; its outputs equal the host TFLM interpreter's bit for bit.

Slow (a cold TFLM library build is about a minute on two cores): `pytest -m slow`.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from controller.firmware.qemu import emulated_board
from controller.firmware.qemu import render_qemu_project
from controller.firmware.qemu import run_on_emulated_board
from controller.firmware.tflm_library import THIRD_PARTY_VARIABLE
from controller.firmware.tflm_library import build_tflm_library
from controller.firmware.tflm_library import library_key
from controller.firmware.tflm_library import third_party_root
from runtimes.tflm import measure_arena
from runtimes.tflm import run_tflm
from specs.errors import StageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.device_rig import SINE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("arm-none-eabi-g++") and shutil.which("qemu-system-arm")),
                       reason="needs gcc-arm-none-eabi and qemu-system-arm (scripts/system-packages.sh)"),
]
INPUTS = np.array([[0.0], [0.5], [1.5], [3.0], [5.5]], dtype=np.float32)


@pytest.fixture(scope="module")
def cache(firmware_cache):
    return firmware_cache  # the session's TFLM cache: one cold build for every firmware test


@pytest.fixture(scope="module")
def arena_host():
    return measure_arena(SINE.read_bytes()).arena_bytes


def test_sine_on_emulated_nano33_equals_host_tflm(cache, arena_host, tmp_path):
    model = SINE.read_bytes()
    result = run_on_emulated_board(model, "nano33ble", [x.tobytes() for x in INPUTS], cache_dir=cache,
                                   work_dir=tmp_path / "fw", arena_measured=arena_host)
    host = run_tflm(model, INPUTS, dequantize=False)
    device = np.stack([np.frombuffer(o, dtype=np.float32) for o in result.run.outputs]).reshape(host.shape)
    assert device.tobytes() == host.tobytes(), (device, host)
    np.testing.assert_allclose(device[:, 0], np.sin(INPUTS[:, 0]), atol=0.1)  # and it is the sine model
    board = BUILTIN_PROFILES["nano33ble"].spec
    assert 0 < result.run.arena_used_bytes <= result.project.arena_bytes
    assert result.image.flash_bytes <= board.flash and result.image.ram_bytes <= board.ram
    assert result.project.arena_bytes <= result.image.bss_bytes  # the reserved arena is in RAM


def test_second_build_is_a_cache_hit_and_a_new_kernel_set_is_not(cache, arena_host, tmp_path):
    first = build_tflm_library("cortex-m4", ["FULLY_CONNECTED"], cache)
    again = build_tflm_library("cortex-m4", ["FULLY_CONNECTED"], cache)
    assert again.cached and again.path == first.path and again.key == first.key
    assert "FULLY_CONNECTED" in again.kernels
    assert library_key("cortex-m4", first.flags, "c", "gcc", ["FULLY_CONNECTED", "CONV_2D"]) != \
        library_key("cortex-m4", first.flags, "c", "gcc", ["FULLY_CONNECTED"])


def test_arena_too_small_for_the_board_is_reported_by_the_device(cache, tmp_path):
    model = SINE.read_bytes()
    with pytest.raises(StageError, match="allocate-tensors"):
        run_on_emulated_board(model, "nano33ble", [INPUTS[0].tobytes()], cache_dir=cache, work_dir=tmp_path / "fw",
                              arena_measured=64)


def test_missing_third_party_tree_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(THIRD_PARTY_VARIABLE, str(tmp_path))
    with pytest.raises(StageError, match=THIRD_PARTY_VARIABLE) as err:
        third_party_root()
    assert str(tmp_path) not in str(err.value)


def test_samples_must_match_one_input_size(tmp_path):
    with pytest.raises(StageError, match="input tensor"):
        render_qemu_project(SINE.read_bytes(), emulated_board("nano33ble"), tmp_path / "fw",
                            samples=[b"\0" * 4, b"\0" * 8], arena_measured=2048)
