"""Measure a converted variant on real runtimes: TFLite (LiteRT) and TFLM, plus size and cost figures."""
from __future__ import annotations

import gzip

import numpy as np

from controller.firmware.c_array import c_array
from controller.pipeline.datasets import Snapshot
from controller.pipeline.device_info import device_info
from controller.pipeline.metrics import task_metrics
from runtimes.litert import run_litert
from runtimes.operators import model_operators
from runtimes.tflm import measure_arena
from runtimes.tflm import run_tflm
from specs.errors import StageError
from wire.logs import get_logger

log = get_logger("pipeline.measure")


def count_macs(model) -> int:
    """Multiply-accumulates of one inference, from the Keras layers' shapes."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        weights = layer.get_weights()
        if not weights:
            continue
        kernel = weights[0]
        out_shape = layer.output_shape if not isinstance(layer.output_shape, list) else layer.output_shape[0]
        positions = int(np.prod([d for d in out_shape[1:-1] if d])) if len(out_shape) > 2 else 1
        if kind == "Dense":
            total += positions * kernel.shape[0] * kernel.shape[1]
        elif kind in ("Conv1D", "Conv2D") or kind == "DepthwiseConv2D":
            total += positions * int(np.prod(kernel.shape))
    return int(total)


def distinct_weights(model) -> dict[str, int]:
    """Distinct values of each layer's kernel: what clustering leaves (e.g. 16), what pruning adds (0)."""
    return {layer.name: int(np.unique(weights[0]).size) for layer in model.layers
            if (weights := layer.get_weights()) and weights[0].ndim >= 2}


def measure_variant(tflite: bytes, model, snapshot: Snapshot, symbol: str = "model",
                    compression: dict | None = None, uncompressed: bytes | None = None) -> dict:
    """Every figure of one variant; TFLM problems are recorded (not raised) so gates can report them.

    A LUT-compressed variant (`compression`, with the model before it as `uncompressed`) is measured
    on TFLM as it is; LiteRT cannot run its DECODE operators, so its LiteRT figures are those of the
    model before compression, which decoding reproduces exactly.
    """
    x_test, y_test = snapshot.x("test"), snapshot.y("test")
    operators = model_operators(tflite)
    weights = model.get_weights()
    figures: dict = {
        "size_bytes": len(tflite),
        "gzip_bytes": len(gzip.compress(tflite, compresslevel=9, mtime=0)),
        "c_array_bytes": len(c_array(tflite, symbol).source.encode()),
        "operators": list(operators.builtin) + [f"custom:{c}" for c in operators.custom + operators.tflm_custom],
        "parameters": int(sum(w.size for w in weights)),
        "nonzero_parameters": int(sum(np.count_nonzero(w) for w in weights)),
        "distinct_weights": distinct_weights(model),
        "macs": count_macs(model),
        "litert": task_metrics(snapshot.task, y_test, run_litert(uncompressed if compression else tflite, x_test),
                               snapshot.outputs),
        "compression": compression,
        "device": device_info(uncompressed if compression else tflite, snapshot),  # same I/O tensors
    }
    try:
        arena = measure_arena(tflite)
        figures["arena_bytes"] = arena.arena_bytes
        figures["arena_reported_bytes"] = arena.reported_bytes
        figures["tflm"] = task_metrics(snapshot.task, y_test, run_tflm(tflite, x_test, arena.arena_bytes),
                                       snapshot.outputs)
        figures["tflm_error"] = None
    except StageError as err:  # e.g. float16 weights: TFLM has no float16 DEQUANTIZE
        log.info("variant does not run on TFLM", extra={"error": str(err)[:300]})
        figures.update(arena_bytes=None, arena_reported_bytes=None, tflm=None, tflm_error=str(err)[:500])
    return figures
