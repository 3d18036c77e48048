"""Small real int8 .tflite models for firmware, gateway and virtual-microcontroller tests.

Built once per test process (lru_cache) with tf-keras and full-integer post-training quantization.
"""
from __future__ import annotations

import os
from functools import cache

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _convert_int8(model, samples) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([samples[i:i + 1]] for i in range(len(samples)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


@cache
def dense_int8(units: int = 16) -> bytes:
    """8 inputs -> Dense(units, relu) -> Dense(3, softmax): FULLY_CONNECTED and SOFTMAX, ~2 KB."""
    import numpy as np
    import tf_keras as keras

    keras.utils.set_random_seed(units)
    model = keras.Sequential([keras.layers.Input((8,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    return _convert_int8(model, np.random.default_rng(0).normal(size=(32, 8)).astype("float32"))


def linear_int8_on(samples, outputs: int = 4) -> bytes:
    """Flat float `samples` (n, features) -> Dense(outputs): FULLY_CONNECTED alone (the device-core
    image's default op resolver), its int8 input quantization fitted on `samples`."""
    import tf_keras as keras

    keras.utils.set_random_seed(outputs)
    model = keras.Sequential([keras.layers.Input((samples.shape[1],)), keras.layers.Dense(outputs)])
    return _convert_int8(model, samples.astype("float32"))


@cache
def wide_conv_int8(side: int = 128, filters: int = 16) -> bytes:
    """A conv whose activations (side*side*filters int8) need more RAM than a small board has."""
    import numpy as np
    import tf_keras as keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.layers.Input((side, side, 1)),
                              keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    return _convert_int8(model, np.random.default_rng(0).normal(size=(4, side, side, 1)).astype("float32"))


@cache
def digits_cnn_int8() -> bytes:
    """A digits-sized int8 CNN (8x8x1 -> 10 classes, ~55k parameters): about 56 KB, the size of the
    design brief's quantized digits model, for transfer figures (bench/ble.py)."""
    import numpy as np
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)),
                              keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(24, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    return _convert_int8(model, np.random.default_rng(0).uniform(0, 1, size=(32, 8, 8, 1)).astype("float32"))
