"""TFLM arena measurement and execution on the real tflite-micro interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from runtimes.tflm import measure_arena
from runtimes.tflm import run_tflm
from specs.errors import StageError


@pytest.fixture(scope="module")
def small_models():
    from controller.pipeline.tf_runtime import import_tf

    tf, keras = import_tf()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    float_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.random((1, 8, 8, 1), dtype=np.float32)] for _ in range(32))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    float16 = tf.lite.TFLiteConverter.from_keras_model(model)
    float16.optimizations = [tf.lite.Optimize.DEFAULT]
    float16.target_spec.supported_types = [tf.float16]
    return {"float32": float_model, "int8": converter.convert(), "float16": float16.convert()}, tf


@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_measured_arena_is_the_smallest_that_runs(small_models, kind):
    models, _ = small_models
    measured = measure_arena(models[kind])
    x = np.random.default_rng(1).random((3, 8, 8, 1), dtype=np.float32)
    assert run_tflm(models[kind], x, measured.arena_bytes).shape == (3, 10)
    with pytest.raises(StageError, match="does not fit|crashed"):
        run_tflm(models[kind], x, measured.smallest_working - 1)
    # Cross-check with TFLM's own allocation report.
    assert measured.reported_bytes > 0
    assert measured.reported_bytes - 64 <= measured.smallest_working <= measured.reported_bytes * 1.5 + 512
    assert "Arena allocation total" in measured.report


def test_tflm_outputs_match_the_tflite_interpreter(small_models):
    models, tf = small_models
    x = np.random.default_rng(2).random((4, 8, 8, 1), dtype=np.float32)
    interpreter = tf.lite.Interpreter(model_content=models["float32"])
    interpreter.allocate_tensors()
    expected = []
    for sample in x:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], sample[None])
        interpreter.invoke()
        expected.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    np.testing.assert_allclose(run_tflm(models["float32"], x), np.array(expected), atol=1e-5)


def test_an_operator_tflm_cannot_prepare_is_reported_not_probed_forever(small_models):
    models, _ = small_models
    with pytest.raises(StageError, match="DEQUANTIZE|dequantize"):  # float16 weights: no TFLM kernel
        measure_arena(models["float16"])
