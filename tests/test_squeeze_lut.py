"""On-device LUT compression (TFLM's DECODE): a real trained model, compressed, run on the TFLM interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from controller.devices.selection import select_variant
from controller.firmware.tflm_library import kernel_sources
from controller.firmware.tflm_library import third_party_root
from controller.loading import load_repository
from controller.pipeline.build import build_model
from controller.pipeline.compression import choose
from controller.pipeline.datasets import Snapshot
from controller.planning.keys import model_keys
from controller.reconciler.bundles import candidates
from controller.store import ArtifactStore
from controller.store import StageCache
from runtimes.litert import run_litert
from runtimes.operators import model_operators
from runtimes.tflm import run_tflm
from specs.errors import StageError
from specs.v1alpha1.protocol import Capabilities

DIGITS = """\
apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: digits}
spec:
  task: classification
  sources: [{type: packaged, name: sklearn.digits}]
  preprocessing: {normalize: {method: minmax}}
  split: {train: 0.7, validation: 0.15, test: 0.15, seed: 4}
---
apiVersion: origami/v1alpha1
kind: Model
metadata: {name: digits}
spec:
  dataset: digits
  architecture: {preset: mlp, units: [64]}
  training: {epochs: 5, seed: 4, learningRate: 0.005}
  variants:
    - {name: clustered, clustering: {clusters: 16, epochs: 1}}
    - {name: lut4, clustering: {clusters: 16, epochs: 1}, compression: {lut: {bits: 4}}}
  gates: {minAccuracy: 0.5}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("lut")
    (root / "specs").mkdir()
    (root / "specs" / "digits.yaml").write_text(DIGITS)
    repo = load_repository(root / "specs").require_valid()
    store = ArtifactStore(root / "store")
    build = build_model(repo, "digits", model_keys(repo, "digits"), store, StageCache(store))
    return build, store, repo


def test_compressed_variant_is_smaller_and_decodes_to_the_same_outputs(built):
    build, store, repo = built
    plain, lut = build.variant("clustered"), build.variant("lut4")
    assert "custom:TFLM_DECODE" in lut.operators and "custom:TFLM_DECODE" not in plain.operators
    assert lut.size_bytes < plain.size_bytes  # the flash a board gives the model
    assert lut.steps[-1].startswith("lut 4-bit (")
    compressed = [t for t in lut.compression["tensors"] if t["bits"] is not None]
    assert compressed and all(t["bits"] <= 4 and t["values"] <= 16 for t in compressed)
    # Same training, same clustering seed: the model before compression is the clustered variant, and
    # DECODE restores its weights exactly, so TFLM gives the same test accuracy, and bit-identical outputs.
    assert lut.tflm["accuracy"] == plain.tflm["accuracy"]
    assert lut.litert == plain.litert
    inputs = Snapshot.decode(store.read_bytes(build.dataset_digest)).x("test")[:64]
    raw_lut = run_tflm(store.read_bytes(lut.tflite_digest), inputs, lut.arena_bytes, dequantize=False)
    raw_plain = run_tflm(store.read_bytes(plain.tflite_digest), inputs, plain.arena_bytes, dequantize=False)
    assert np.array_equal(raw_lut, raw_plain)
    # The decoded weights live in the arena while their operator runs: the measured arena holds them.
    largest = max(t["bytes_before"] for t in compressed)
    assert lut.arena_bytes > largest and lut.arena_bytes > plain.arena_bytes


def test_litert_cannot_run_the_decode_model_so_linux_boards_never_get_it(built):
    build, store, _ = built
    with pytest.raises(Exception):  # noqa: B017 (LiteRT's own error type; the point is that it refuses)
        run_litert(store.read_bytes(build.variant("lut4").tflite_digest), np.zeros((1, 64), np.float32))
    variants = {v.name: {"passed": v.passed, "quantization": v.quantization, "size": v.size_bytes,
                         "arena": v.arena_bytes, "tflm": True, "tflm_only": v.compression is not None}
                for v in build.variants}
    assert [c.name for c in candidates(variants, "linux")] == ["clustered"]
    assert {c.name for c in candidates(variants, "mcu")} == {"clustered", "lut4"}


def test_a_board_whose_flash_only_the_compressed_variant_fits_gets_it(built):
    build, _, _ = built
    plain, lut = build.variant("clustered"), build.variant("lut4")
    variants = {v.name: {"passed": True, "quantization": "int8", "size": v.size_bytes, "arena": v.arena_bytes,
                         "tflm": True, "tflm_only": v.compression is not None} for v in (plain, lut)}
    caps = Capabilities(family="mcu", board="tiny", profile="tiny", ramBytes=256 * 1024,
                        flashBytes=(plain.size_bytes + lut.size_bytes) // 2, runtimes=["tflm"])
    chosen = select_variant(caps, candidates(variants, "mcu"))
    assert chosen.candidate is not None and chosen.candidate.name == "lut4", chosen.reason


def test_a_tensor_is_left_as_it_is_when_tables_would_not_shrink_it():
    clustered = np.tile(np.arange(-8, 8, dtype=np.int8), (64, 8))       # 64 channels of 16 values, 8 KiB
    kept = choose("k", clustered, 0, 4)
    assert kept.bits == 4 and kept.bytes_after < kept.bytes_before
    assert choose("k", clustered, 0, 3).bits is None                      # 16 values do not fit 3 bits
    tiny = np.tile(np.arange(-8, 8, dtype=np.int8), (4, 1))              # 64 B: the DECODE costs more
    assert "would not be smaller" in choose("t", tiny, 0, 4).reason
    one_table = np.tile(np.array([-3, 0, 5, 9], dtype=np.int8), (64, 16))  # 4 values in the whole tensor
    assert choose("o", one_table, 0, 4).axis is None and choose("o", one_table, 0, 4).bits == 2


def test_firmware_builds_register_and_compile_the_decode_kernel(built):
    build, store, _ = built
    ops = model_operators(store.read_bytes(build.variant("lut4").tflite_digest))
    assert ops.custom == () and ops.tflm_custom == ("TFLM_DECODE",)  # nothing TFLM cannot resolve
    assert "DECODE" in ops.kernels and "AddDecode" in ops.resolver_calls
    try:
        tflm = third_party_root().tflm
    except StageError:
        pytest.skip("no TFLM source tree (ORIGAMI_THIRD_PARTY)")
    names = {p.name for p in kernel_sources(tflm, ops.kernels)}
    assert {"decode.cc", "decode_state.cc", "decode_state_lut.cc"} <= names
