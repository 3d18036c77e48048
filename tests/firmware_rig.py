"""Helpers for the tests that run the device core on an emulated Nano 33 (QEMU)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from device.gateway.emulated import QemuBoard
from device.gateway.serial_link import BoardLink

NANO33_MACHINE = "mps2-an386"


def firmware_tools_missing() -> str | None:
    """Why the firmware tests cannot run here, or None (the product's own check)."""
    from controller.firmware.qemu import emulator_missing

    return emulator_missing()


def third_party_missing() -> str | None:
    """Why the pinned third-party tree (TFLM, Monocypher, ...) is not here, or None."""
    from controller.firmware.tflm_library import third_party_root
    from specs.errors import StageError

    try:
        third_party_root()
    except StageError as err:
        return str(err)
    return None


needs_third_party = pytest.mark.skipif(third_party_missing() is not None,
                                       reason="needs the third-party tree (ORIGAMI_THIRD_PARTY or ../shared)")


def skip_without_firmware_tools() -> None:
    why = firmware_tools_missing()
    if why:
        pytest.skip(why)


@contextmanager
def emulated_nano33(elf: Path, folder: Path, device_id: str = "nano33-qemu-0"):
    """A booted emulated Nano 33 and a serial link to it."""
    board = QemuBoard(NANO33_MACHINE, elf, folder, device_id)
    board.start()
    link = BoardLink(board.port)
    try:
        yield board, link
    finally:
        link.close()
        board.stop()


def input_bytes(tflite: bytes, x) -> list[bytes]:
    """Each sample of `x` (floats, batch first) as the model's input tensor bytes (quantized with the
    input's scale and zero point for an integer model), what a board receives."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from runtimes.quantization import quantize_input

    details = Interpreter(model_content=tflite).get_input_details()[0]
    return [quantize_input(np.asarray(sample, dtype=np.float32), details).tobytes() for sample in x]


def digits_int8_cnn():
    """The example digits CNN (examples/digits-mixed, trained briefly), converted to int8, and its
    test split: (tflite, x_test, y_test)."""
    from controller.pipeline.squeeze import convert
    from tests.split_digits import trained_digits

    digits = trained_digits()
    return convert(digits.model, "int8", digits.snapshot, 0), digits.snapshot.x("test"), digits.snapshot.y("test")


def lut_compressed_mlp() -> tuple[bytes, bytes]:
    """A small int8 MLP whose weights take at most 16 values per channel, LUT-compressed to 4 bits
    behind TFLM's DECODE operator (controller.pipeline.compression): (compressed, uncompressed);
    LiteRT cannot read the compressed one, the uncompressed one has the same input tensor."""
    import numpy as np

    from controller.pipeline.compression import lut_compress
    from controller.pipeline.tf_runtime import import_tf

    tf, keras = import_tf()
    model = keras.Sequential([keras.layers.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    rng = np.random.default_rng(0)
    levels = np.linspace(-0.5, 0.5, 16, dtype=np.float32)
    model.set_weights([levels[rng.integers(0, 16, w.shape)] if w.ndim == 2 else w for w in model.get_weights()])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, 64), dtype=np.float32)] for _ in range(32))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    plain = bytes(converter.convert())
    return lut_compress(plain, 4).tflite, plain
