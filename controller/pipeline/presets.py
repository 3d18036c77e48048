"""Architecture presets (MLP, 1-D CNN, 2-D CNN, DS-CNN) and user entry points, as Keras 2 models."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from specs.errors import StageError
from specs.v1alpha1.model import Architecture


def _head(keras, x, task: str, outputs: int, dropout: float):
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    if task == "classification":
        return keras.layers.Dense(outputs, activation="softmax", name="probabilities")(x)
    return keras.layers.Dense(1, name="value")(x)


def _mlp(keras, arch: Architecture, inputs):
    x = keras.layers.Flatten()(inputs) if len(inputs.shape) > 2 else inputs
    for i, units in enumerate(arch.units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
    return x


def _cnn1d(keras, arch: Architecture, inputs):
    x = inputs if len(inputs.shape) == 3 else keras.layers.Reshape((-1, 1))(keras.layers.Flatten()(inputs))
    for i, filters in enumerate(arch.units):
        x = keras.layers.Conv1D(filters, arch.kernelSize, padding="same", activation="relu", name=f"conv_{i}")(x)
        if x.shape[1] >= 4:
            x = keras.layers.MaxPooling1D(2, name=f"pool_{i}")(x)
    return keras.layers.Flatten()(x)


def _as_image(keras, inputs):
    if len(inputs.shape) == 4:
        return inputs
    if len(inputs.shape) == 3:  # (time, channels) as a one-channel image
        return keras.layers.Reshape((*inputs.shape[1:], 1))(inputs)
    raise StageError("2-D presets (cnn2d, dscnn) need image-like samples (height, width[, channels]); "
                     "use mlp or cnn1d for flat features")


def _cnn2d(keras, arch: Architecture, inputs):
    x = _as_image(keras, inputs)
    for i, filters in enumerate(arch.units):
        x = keras.layers.Conv2D(filters, arch.kernelSize, padding="same", activation="relu", name=f"conv_{i}")(x)
        if min(x.shape[1], x.shape[2]) >= 4:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    return keras.layers.Flatten()(x)


def _dscnn(keras, arch: Architecture, inputs):
    x = _as_image(keras, inputs)
    x = keras.layers.Conv2D(arch.units[0], arch.kernelSize, padding="same", use_bias=False, name="conv_0")(x)
    x = keras.layers.BatchNormalization(name="bn_0")(x)
    x = keras.layers.ReLU(name="relu_0")(x)
    for i, filters in enumerate(arch.units[1:], start=1):
        x = keras.layers.DepthwiseConv2D(arch.kernelSize, padding="same", use_bias=False, name=f"dw_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"dw_bn_{i}")(x)
        x = keras.layers.ReLU(name=f"dw_relu_{i}")(x)
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"pw_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"pw_bn_{i}")(x)
        x = keras.layers.ReLU(name=f"pw_relu_{i}")(x)
    return keras.layers.GlobalAveragePooling2D()(x)


PRESETS = {"mlp": _mlp, "cnn1d": _cnn1d, "cnn2d": _cnn2d, "dscnn": _dscnn}


def load_entry_point(entry_point: str, search_path: Path):
    """Import `module:function`, looking first in the spec repository (search_path)."""
    module_name, function_name = entry_point.split(":")
    sys.path.insert(0, str(search_path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise StageError(f"architecture.entryPoint {entry_point}: cannot import {module_name} ({err}); "
                         f"put {module_name.replace('.', '/')}.py in the spec repository") from err
    finally:
        sys.path.remove(str(search_path))
    function = getattr(module, function_name, None)
    if not callable(function):
        raise StageError(f"architecture.entryPoint {entry_point}: {module_name} has no function {function_name}")
    return function


def keras_model(keras, arch: Architecture, input_shape: tuple[int, ...], task: str, outputs: int,
                search_path: Path):
    """A fresh (uncompiled) Keras model for the spec's architecture."""
    if arch.entryPoint:
        model = load_entry_point(arch.entryPoint, search_path)(input_shape=input_shape, outputs=outputs, task=task)
        if not isinstance(model, keras.Model):
            raise StageError(f"architecture.entryPoint {arch.entryPoint} returned {type(model).__name__}, "
                             "not a tf_keras Model (Keras 2; import tf_keras, not keras 3)")
        return model
    inputs = keras.Input(shape=input_shape, name="input")
    body = PRESETS[arch.preset](keras, arch, inputs)
    return keras.Model(inputs, _head(keras, body, task, outputs, arch.dropout), name=arch.preset)
