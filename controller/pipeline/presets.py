"""Architecture presets (MLP, 1-D CNN, 2-D CNN, DS-CNN) and user entry points, as Keras 2 models.

An entry point is code from the spec repository: it runs only when the controller was started
with `--allow-repo-code`, only from a module file inside the repository, and is loaded from that
file (the repository never goes on `sys.path`, so it cannot shadow an installed module).
"""
from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import traceback
from pathlib import Path

import numpy as np

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.limits import exceeds
from controller.loading.confinement import RefusedPath
from controller.loading.confinement import module_file
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


def _separable_blocks(keras, arch: Architecture, x, filters: list[int], momentum: float = 0.99):
    for i, width in enumerate(filters, start=1):
        x = keras.layers.DepthwiseConv2D(arch.kernelSize, padding="same", use_bias=False, name=f"dw_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=momentum, name=f"dw_bn_{i}")(x)
        x = keras.layers.ReLU(name=f"dw_relu_{i}")(x)
        x = keras.layers.Conv2D(width, 1, use_bias=False, name=f"pw_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=momentum, name=f"pw_bn_{i}")(x)
        x = keras.layers.ReLU(name=f"pw_relu_{i}")(x)
    return x


def _dscnn(keras, arch: Architecture, inputs):
    x = _as_image(keras, inputs)
    x = keras.layers.Conv2D(arch.units[0], arch.kernelSize, padding="same", use_bias=False, name="conv_0")(x)
    x = keras.layers.BatchNormalization(name="bn_0")(x)
    x = keras.layers.ReLU(name="relu_0")(x)
    x = _separable_blocks(keras, arch, x, list(arch.units[1:]))
    return keras.layers.GlobalAveragePooling2D()(x)


KWS_STEM_KERNEL, KWS_STEM_STRIDE = (10, 4), (2, 2)  # MLPerf Tiny KWS: over 10 frames x 4 MFCCs
# Batch-norm statistics follow the batches faster than Keras' 0.99: a few thousand clips make a few
# dozen steps per epoch, too few for 0.99 to forget its initial statistics before early stopping looks.
KWS_BN_MOMENTUM = 0.9


def _kws_dscnn(keras, arch: Architecture, inputs):
    """MLPerf Tiny's KWS DS-CNN; average pooling over the whole map (AVERAGE_POOL_2D, which TFLM and
    CMSIS-NN run, where global pooling would convert to MEAN)."""
    x = _as_image(keras, inputs)
    x = keras.layers.Conv2D(arch.units[0], KWS_STEM_KERNEL, strides=KWS_STEM_STRIDE, padding="same",
                            use_bias=False, name="conv_0")(x)
    x = keras.layers.BatchNormalization(momentum=KWS_BN_MOMENTUM, name="bn_0")(x)
    x = keras.layers.ReLU(name="relu_0")(x)
    x = _separable_blocks(keras, arch, x, list(arch.units[1:]), KWS_BN_MOMENTUM)
    x = keras.layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    return keras.layers.Flatten(name="flatten")(x)


PRESETS = {"mlp": _mlp, "cnn1d": _cnn1d, "cnn2d": _cnn2d, "dscnn": _dscnn, "kws-dscnn": _kws_dscnn}


def preset_parameters(arch: Architecture, input_shape: tuple[int, ...], task: str, outputs: int) -> int | None:
    """The parameters (weights, biases, batch-norm statistics) the preset would create, computed
    before Keras allocates any; None when the input does not suit the preset (building says why)."""
    k = arch.kernelSize
    if arch.preset == "mlp":
        width, total = math.prod(input_shape), 0
        for units in arch.units:
            total, width = total + width * units + units, units
    elif arch.preset == "cnn1d":
        steps, channels = input_shape if len(input_shape) == 2 else (math.prod(input_shape), 1)
        total = 0
        for filters in arch.units:
            total, channels = total + k * channels * filters + filters, filters
            steps = steps // 2 if steps >= 4 else steps
        width = steps * channels
    else:
        if len(input_shape) not in (2, 3):
            return None
        height, wide, channels = (*input_shape, 1)[:3]
        if arch.preset == "cnn2d":
            total = 0
            for filters in arch.units:
                total, channels = total + k * k * channels * filters + filters, filters
                height, wide = (height // 2, wide // 2) if min(height, wide) >= 4 else (height, wide)
            width = height * wide * channels
        else:  # dscnn, kws-dscnn: no biases; each batch normalisation keeps 4 numbers per channel
            stem = math.prod(KWS_STEM_KERNEL) if arch.preset == "kws-dscnn" else k * k
            total, channels = stem * channels * arch.units[0] + 4 * arch.units[0], arch.units[0]
            for filters in arch.units[1:]:
                total += k * k * channels + 4 * channels + channels * filters + 4 * filters
                channels = filters
            width = channels
    heads = outputs if task == "classification" else 1
    return total + width * heads + heads


REPOSITORY_MODULES = "origami_spec_repository__"  # sys.modules prefix: never an installed module's name


def _where_in(file: Path, err: BaseException) -> str:
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__) if frame.filename == str(file)]
    return f" at line {lines[-1]}" if lines else ""


def load_entry_point(entry_point: str, search_path: Path, *, allow_repo_code: bool = False,
                     root: Path | None = None):
    """The function of `module:function`, loaded from `module.py` (or `module/__init__.py`) next to the
    Model's spec file (`search_path`), inside the repository `root` (default: `search_path` itself).

    Refused unless the controller runs with --allow-repo-code. Failures are StageErrors naming the
    module and a line, never the exception's text (it could carry anything the code read).
    """
    module_name, function_name = entry_point.split(":")
    if not allow_repo_code:
        raise StageError(f"architecture.entryPoint {entry_point}: this Model runs code from the spec repository; "
                         "start the controller with --allow-repo-code to build it")
    try:
        file = module_file(root if root is not None else search_path, search_path, module_name)
    except RefusedPath as err:
        raise StageError(f"architecture.entryPoint {entry_point}: module {module_name} {err}") from None
    name = REPOSITORY_MODULES + module_name.replace(".", "__")
    package = [str(file.parent)] if file.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=package)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a fresh load at every build: edits to the module take effect
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise StageError(f"architecture.entryPoint {entry_point}: {module_name} has a syntax error at line "
                         f"{err.lineno}") from None
    except ImportError as err:
        raise StageError(f"architecture.entryPoint {entry_point}: importing {module_name} failed"
                         f"{_where_in(file, err)}: no module named {err.name!r:.80} is installed") from None
    except MemoryError:
        raise  # the build worker reports it as the memory limit, not as the module's fault
    except Exception as err:  # any failure of the repository's code is the spec's problem
        raise StageError(f"architecture.entryPoint {entry_point}: importing {module_name} raised "
                         f"{type(err).__name__}{_where_in(file, err)}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise StageError(f"architecture.entryPoint {entry_point}: {module_name} has no function {function_name}")
    return function


def _call_entry_point(function, entry_point: str, **arguments):
    try:
        inspect.signature(function).bind(**arguments)
    except TypeError:
        raise StageError(f"architecture.entryPoint {entry_point}: the function must accept the keyword arguments "
                         f"{', '.join(arguments)}") from None
    except ValueError:  # no signature to inspect (a builtin): the call says
        pass
    try:
        return function(**arguments)
    except MemoryError:
        raise  # the build worker reports it as the memory limit, not as the module's fault
    except Exception as err:  # any failure of the repository's code is the spec's problem
        file = Path(inspect.getsourcefile(function) or "")
        raise StageError(f"architecture.entryPoint {entry_point}: the function raised "
                         f"{type(err).__name__}{_where_in(file, err)}") from None


def output_problem(model, input_shape: tuple[int, ...], task: str, outputs: int) -> str | None:
    """Why a user's model does not give what the pipeline trains and measures, or None.

    Classification: one output of `outputs` probabilities (softmax: the loss is sparse categorical
    cross-entropy on probabilities, and devices read the largest); regression: one linear value.
    """
    want = (None, outputs if task == "classification" else 1)
    shape = model.output_shape
    if isinstance(shape, list) or tuple(shape) != want:
        return (f"the model's output has shape {shape}; a {task} model must output {want} "
                f"({'one probability per class' if task == 'classification' else 'one value'})")
    if task != "classification":
        return None
    sample = np.random.default_rng(0).normal(size=(4, *input_shape)).astype(np.float32)
    try:
        probabilities = np.asarray(model(sample, training=False))
    except Exception as err:  # any failure of the repository's model is the spec's problem
        return f"running the returned model on {input_shape}-shaped inputs raised {type(err).__name__}"
    if probabilities.min() < -1e-6 or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        return ("the model outputs logits, not probabilities (they do not sum to 1); end it with "
                "a softmax (e.g. Dense(outputs, activation='softmax'))")
    return None


def keras_model(keras, arch: Architecture, input_shape: tuple[int, ...], task: str, outputs: int,
                search_path: Path, *, allow_repo_code: bool = False, root: Path | None = None,
                limits: Limits = DEFAULT_LIMITS):
    """A fresh (uncompiled) Keras model for the spec's architecture, within the parameter budget."""
    if arch.entryPoint:
        function = load_entry_point(arch.entryPoint, search_path, allow_repo_code=allow_repo_code, root=root)
        model = _call_entry_point(function, arch.entryPoint, input_shape=input_shape, outputs=outputs, task=task)
        if not isinstance(model, keras.Model):
            raise StageError(f"architecture.entryPoint {arch.entryPoint} returned {type(model).__name__:.80}, "
                             "not a tf_keras Model (Keras 2; import tf_keras, not keras 3)")
        problem = output_problem(model, input_shape, task, outputs)
        if problem:
            raise StageError(f"architecture.entryPoint {arch.entryPoint}: {problem}")
    else:
        estimate = preset_parameters(arch, input_shape, task, outputs)
        if estimate is not None and estimate > limits.max_model_parameters:
            raise StageError(f"architecture {arch.preset}: " + exceeds(
                limits, "max_model_parameters", f"{estimate:,} parameters for inputs of shape {input_shape}"))
        inputs = keras.Input(shape=input_shape, name="input")
        body = PRESETS[arch.preset](keras, arch, inputs)
        model = keras.Model(inputs, _head(keras, body, task, outputs, arch.dropout), name=arch.preset)
    if model.count_params() > limits.max_model_parameters:
        what = f"architecture.entryPoint {arch.entryPoint}" if arch.entryPoint else f"architecture {arch.preset}"
        raise StageError(f"{what}: " + exceeds(limits, "max_model_parameters", f"{model.count_params():,} parameters"))
    return model
