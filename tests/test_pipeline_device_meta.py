"""Everything a device needs to use its model travels with it: the class names in output order, the
input normalisation and the int8 input/output quantization, in the firmware (`origami_model_meta.h`,
compiled and run here) and beside a Linux bundle (`model_meta.json`); class names from the user's data
cannot break out of their C string literals."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from controller.firmware.render import render_firmware
from controller.pipeline.datasets import Snapshot
from controller.pipeline.device_info import device_info
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.tiny_tflite import dense_int8

HOSTILE = 'b"};\n#error injected */ ??/ é'
CLASSES = ["red", HOSTILE, "white"]


@pytest.fixture(scope="module")
def device() -> dict:
    x = np.zeros((4, 8), np.float32)
    snapshot = Snapshot(task="classification", classes=CLASSES,
                        arrays={f"{k}_{s}": (x if k == "x" else np.zeros(4, np.int64))
                                for k in ("x", "y") for s in ("train", "validation", "test")},
                        preprocessing={"normalize": {"method": "standard", "offset": [float(i) for i in range(8)],
                                                     "scale": [0.5] * 8}})
    return device_info(dense_int8(), snapshot)


def test_device_info_reads_the_quantization_from_the_model(device):
    assert device["classes"] == CLASSES and device["sample_shape"] == [8]
    assert device["input"]["dtype"] == "int8" and device["input"]["shape"] == [1, 8] and device["input"]["scale"] > 0
    assert device["output"]["dtype"] == "int8" and device["output"]["shape"] == [1, 3]
    assert device["output"]["scale"] == pytest.approx(1 / 256) and device["output"]["zero_point"] == -128  # softmax


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host C compiler")
def test_the_firmware_header_compiles_and_gives_the_device_the_same_values(device, tmp_path):
    project = render_firmware(dense_int8(), BUILTIN_PROFILES["pico"], tmp_path / "fw", version="1",
                              arena_measured=4096, device=device)
    header = project.directory / "src" / "origami_model_meta.h"
    assert "src/origami_model_meta.h" in project.files
    names = next(line for line in header.read_text().splitlines() if "ORIGAMI_CLASS_NAMES[" in line)
    assert '\\042};\\012#error injected */ \\077\\077/ \\303\\251"' in names  # one line, every byte escaped
    program = tmp_path / "main.c"
    program.write_text('#include <stdio.h>\n#include "origami_model_meta.h"\nint main(void) {\n'
                       '  for (int i = 0; i < ORIGAMI_NUM_CLASSES; i++) printf("%s\\n", ORIGAMI_CLASS_NAMES[i]);\n'
                       '  printf("%d %.9g %.9g\\n", ORIGAMI_NORMALIZE_FEATURES, ORIGAMI_INPUT_OFFSET[7], '
                       'ORIGAMI_INPUT_SCALE_PER_FEATURE[0]);\n'
                       '  printf("%.9g %d %.9g %d %d\\n", ORIGAMI_INPUT_SCALE, ORIGAMI_INPUT_ZERO_POINT, '
                       'ORIGAMI_OUTPUT_SCALE, ORIGAMI_OUTPUT_ZERO_POINT, ORIGAMI_OUTPUT_ELEMENTS);\n'
                       '  return 0;\n}\n')
    binary = tmp_path / "meta"
    built = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(header.parent),
                            str(program), "-o", str(binary)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    stdout = subprocess.run([str(binary)], capture_output=True, timeout=10).stdout.decode()
    assert stdout.startswith(f"red\n{HOSTILE}\nwhite\n")  # the names exactly, the hostile one too
    out = stdout.split("\n")
    assert out[4] == "8 7 0.5"
    scale, zero, out_scale, out_zero, elements = out[5].split()
    assert float(scale) == pytest.approx(device["input"]["scale"]) and int(zero) == device["input"]["zero_point"]
    assert float(out_scale) == pytest.approx(1 / 256) and (int(out_zero), int(elements)) == (-128, 3)


def test_a_linux_bundle_carries_the_same_as_json(device, tmp_path):
    project = render_firmware(dense_int8(), BUILTIN_PROFILES["rpi4"], tmp_path / "bundle", version="1",
                              device=device)
    meta = json.loads((project.directory / "model_meta.json").read_text())
    assert meta["kind"] == "ModelMeta" and meta["classes"] == CLASSES
    assert meta["normalize"]["offset"] == [float(i) for i in range(8)] and meta["input"] == device["input"]
