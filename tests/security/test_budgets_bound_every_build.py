"""No spec makes a build unbounded: YAML, data files, epochs and model sizes each have a budget.

The bombs run in a subprocess under a 1.5 GiB address-space ceiling: each must end in a located,
clean error (not a MemoryError) well inside the subprocess bound. Files of a gigabyte are sparse.
"""
from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from controller.limits import Limits
from controller.pipeline.datasets import build_snapshot
from controller.pipeline.presets import keras_model
from controller.pipeline.presets import preset_parameters
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec
from specs.v1alpha1.model import Architecture
from tests.security.attacker import assert_clean_refusal
from tests.security.attacker import origami
from tests.security.attacker import python
from tests.security.attacker import sparse_file

GIB = 1024**3
DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: big}
spec:
  task: classification
  sources: [%s]
"""
MODEL = """apiVersion: origami/v1alpha1
kind: Model
metadata: {name: long}
spec:
  dataset: big
  architecture: {preset: mlp}
  training: {epochs: %d}
"""
PACKAGED = "{type: packaged, name: sklearn.iris}"
BUILD = """
import json, sys
from pathlib import Path
from controller.limits import Limits
from controller.pipeline.datasets import build_snapshot
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec

root = Path(sys.argv[1])
try:
    spec, limits = DatasetSpec.model_validate_json(sys.argv[2]), Limits(**json.loads(sys.argv[3]))
    build_snapshot(spec, root, root=root, limits=limits)
except StageError as err:
    print(err)
    sys.exit(3)
"""


def build_in_subprocess(root: Path, source: dict, **limits) -> str:
    """build_snapshot of one source under the memory ceiling; its StageError message (exit 3)."""
    spec = json.dumps({"task": "classification", "sources": [source]})
    done = python(BUILD, str(root), spec, json.dumps(limits))
    return assert_clean_refusal(done, root, code=3).strip()


def wav_header(data_bytes: int, channels: int = 1, rate: int = 16_000) -> bytes:
    return (b"RIFF" + (36 + data_bytes).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
            + struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
            + b"data" + data_bytes.to_bytes(4, "little"))


# --- YAML ----------------------------------------------------------------------------------------
def alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def merge_bomb() -> str:
    lines = ["m0: &m0 {k0: 0, k1: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 4)}], k{i + 1}: {i}}}" for i in range(1, 16)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "where", "message"), [
    (alias_bomb(), "6:10", "more than 100000 YAML nodes once aliases are expanded; "
                           "the controller's limit maxYamlNodes can be raised with --limits FILE"),
    (merge_bomb(), "8:25", "more than 100000 YAML nodes once aliases are expanded"),
    ("x: " + "[" * 200 + "]" * 200 + "\n", "1:67", "nesting deeper than 64 levels"),
])
def test_a_small_yaml_bomb_ends_in_a_located_error_in_bounded_memory(tmp_path, text, where, message):
    assert len(text.encode()) < 2048
    (tmp_path / "bomb.yaml").write_text(text)
    output = assert_clean_refusal(origami("validate", str(tmp_path)), tmp_path)
    assert output.splitlines()[0].startswith(f"bomb.yaml:{where}: {message}")


# --- data files ----------------------------------------------------------------------------------
def test_a_gigabyte_csv_is_refused_from_its_size_by_validate_and_before_opening_by_the_reader(tmp_path):
    sparse_file(tmp_path / "data" / "big.csv", GIB, b"f,label\n")
    (tmp_path / "dataset.yaml").write_text(DATASET % "{type: files, format: csv, path: data/big.csv, target: label}")
    output = assert_clean_refusal(origami("validate", str(tmp_path)), tmp_path)
    assert ("dataset.yaml:6:46: Dataset/big: spec.sources[0].path: the Dataset's files reach 1 GiB here, more than "
            "the limit of 256 MiB; the controller's limit maxDatasetBytes can be raised with --limits FILE") in output
    big = {"type": "files", "format": "csv", "path": "data/big.csv", "target": "label"}
    refused = build_in_subprocess(tmp_path, big)
    assert refused.startswith("data/big.csv: the Dataset's files reach 1 GiB, more than the limit of 256 MiB")
    # With the byte budget raised, one endless line is still refused without reading it whole.
    refused = build_in_subprocess(tmp_path, big, max_dataset_bytes=2 * GIB)
    assert refused == "data/big.csv: row 2 is longer than 4 MiB"


def test_a_gzip_small_wav_bomb_is_refused_from_its_header_before_reading_a_frame(tmp_path):
    sparse_file(tmp_path / "audio" / "yes" / "zeros.wav", GIB, wav_header(GIB - 44))
    sparse_file(tmp_path / "audio" / "no" / "zeros.wav", 1044, wav_header(1000))
    assert len(zlib.compress((tmp_path / "audio" / "no" / "zeros.wav").read_bytes())) < 100  # zeros shrink
    source = {"type": "files", "format": "wav", "path": "audio"}
    refused = build_in_subprocess(tmp_path, source)
    assert refused.startswith("audio: the Dataset's files reach 1 GiB, more than the limit of 256 MiB")
    refused = build_in_subprocess(tmp_path, source, max_dataset_bytes=2 * GIB)  # then the header decides
    assert refused == ("audio/yes/zeros.wav: the Dataset reaches 536,871,390 values, more than the limit of "
                       "67,108,864; the controller's limit maxDatasetValues can be raised with --limits FILE")


def test_an_npz_whose_header_claims_a_huge_array_is_refused_before_decompressing_it(tmp_path):
    def npy(shape, dtype="<f4", data=b"\0" * 64) -> bytes:
        out = io.BytesIO()
        np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
        return out.getvalue() + data

    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", npy((2**16, 2**15)))
        archive.writestr("y.npy", npy((2**16,), "<i8"))
    refused = build_in_subprocess(tmp_path, {"type": "files", "format": "npz", "path": "bomb.npz"})
    assert refused.startswith("bomb.npz: the Dataset reaches 2,147,483,648 values, more than the limit of 67,108,864")


def test_an_image_whose_header_claims_a_hundred_million_pixels_is_refused_before_decoding(tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10_000, 10_000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "images" / "cat" / "huge.png").write_bytes(png)
    refused = build_in_subprocess(tmp_path, {"type": "files", "format": "images", "path": "images"})
    assert refused.startswith("images/cat/huge.png: decoding this image gives 100,000,000 values, more than the "
                              "limit of 67,108,864")


def test_csv_rows_beyond_the_sample_budget_are_refused_while_streaming(tmp_path):
    (tmp_path / "rows.csv").write_text("f,label\n" + "".join(f"{i},{i % 3}\n" for i in range(500)))
    spec = DatasetSpec.model_validate({"task": "classification",
                                       "sources": [{"type": "files", "format": "csv", "path": "rows.csv",
                                                                    "target": "label"}]})
    with pytest.raises(StageError) as refused:
        build_snapshot(spec, tmp_path, limits=Limits(max_samples=100))
    assert str(refused.value) == ("rows.csv: the Dataset reaches 101 samples, more than the limit of 100; "
                                  "the controller's limit maxSamples can be raised with --limits FILE")
    assert len(build_snapshot(spec, tmp_path).y("train")) == 350


def test_generated_samples_over_budget_are_a_located_error_at_validate(tmp_path):
    (tmp_path / "dataset.yaml").write_text(DATASET % "{type: generated, generator: gestures, samples: 400000}")
    output = assert_clean_refusal(origami("validate", str(tmp_path)), tmp_path)
    assert ("dataset.yaml:6:61: Dataset/big: spec.sources[0].samples: the generated sources reach 76,800,000 values, "
            "more than the limit of 67,108,864") in output


def test_speech_clips_over_budget_are_a_located_error_at_validate(tmp_path):
    speech = "{type: generated, generator: speech, words: [stop, go], utterancesPerWord: 2000}"
    (tmp_path / "dataset.yaml").write_text(DATASET % speech)
    output = assert_clean_refusal(origami("validate", str(tmp_path)), tmp_path)
    assert ("Dataset/big: spec.sources[0].utterancesPerWord: the generated sources reach 128,000,000 values, "
            "more than the limit of 67,108,864") in output


# --- training ------------------------------------------------------------------------------------
def test_epochs_over_the_limit_are_a_located_error_that_says_how_to_raise_it(tmp_path):
    (tmp_path / "dataset.yaml").write_text(DATASET % PACKAGED)
    (tmp_path / "model.yaml").write_text(MODEL % 100_000)
    output = assert_clean_refusal(origami("validate", str(tmp_path)), tmp_path)
    assert ("model.yaml:7:22: Model/long: spec.training.epochs: 100,000 epochs, more than the limit of 1,000; "
            "the controller's limit maxEpochs can be raised with --limits FILE") in output.splitlines()
    (tmp_path.parent / "limits.yaml").write_text("maxEpochs: 200000\nmaxDatasetBytes: 1GiB\n")
    done = origami("validate", str(tmp_path), "--limits", str(tmp_path.parent / "limits.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("maxEpoch: 5\n", "limits.yaml:1:1: maxEpoch: unknown limit; known: maxEpochs, "),
    ("maxEpochs: -5\n", "limits.yaml:1:1: maxEpochs: expected a whole number above 0 and at most 2**50"),
    ("maxDatasetBytes: 12 parsecs\n", "limits.yaml:1:1: maxDatasetBytes: '12 parsecs' is not a size"),
    ("- 1\n", "limits.yaml:1:1: a limits file is a mapping such as 'maxEpochs: 5000'"),
])
def test_a_wrong_limits_file_is_a_usage_error_at_its_line(tmp_path, text, message):
    (tmp_path / "limits.yaml").write_text(text)
    done = origami("validate", "--limits", "limits.yaml", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(f"origami: error: {message}"), done.stderr


def test_a_preset_over_the_parameter_budget_is_refused_before_keras_allocates_anything(tmp_path):
    huge = Architecture(preset="mlp", units=[65536] * 8)
    with pytest.raises(StageError) as refused:  # keras=None: refused before any layer exists
        keras_model(None, huge, (28, 28, 1), "classification", 10, tmp_path)
    assert str(refused.value).startswith("architecture mlp: 30,117,330,954 parameters for inputs of shape (28, 28, 1), "
                                         "more than the limit of 5,000,000")


@pytest.mark.ml
@pytest.mark.parametrize("preset", ["mlp", "cnn1d", "cnn2d", "dscnn", "kws-dscnn"])
def test_the_parameter_estimate_equals_what_keras_builds(keras, preset):
    for shape in [(64, 3), (8, 8, 1), (28, 28, 3), (5, 7)]:
        for task, outputs in (("classification", 4), ("regression", 1)):
            arch = Architecture(preset=preset, units=[8, 6, 5], kernelSize=3)
            model = keras_model(keras, arch, shape, task, outputs, Path("."))
            assert preset_parameters(arch, shape, task, outputs) == model.count_params(), (shape, task)
