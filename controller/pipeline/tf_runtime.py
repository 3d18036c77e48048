"""One place that imports TensorFlow, with Keras 2 selected and its logs quieted.

tensorflow-model-optimization only works with Keras 2 (tf-keras), so the
environment must say TF_USE_LEGACY_KERAS=1 before TensorFlow is first imported.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from types import ModuleType

from specs.errors import StageError


@lru_cache(maxsize=1)
def import_tf() -> tuple[ModuleType, ModuleType]:
    """Return (tensorflow, tf_keras), importing them once with the settings Origami needs."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic CPU kernels
    try:
        import tensorflow as tf
        import tf_keras
    except ImportError as err:  # pragma: no cover - depends on the install
        raise StageError(
            f"TensorFlow is not installed ({err}); install the ML extra: pip install 'origami[ml]'") from err
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf, tf_keras


def tool_versions() -> dict[str, str]:
    """Versions of the ML tools, read from package metadata so TensorFlow is not imported."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    found = {}
    for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tflite-micro", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found
