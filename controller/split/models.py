"""Head and tail sub-models of a cut, and their TFLite artifacts.

The head goes through the same int8 conversion as whole models (controller.pipeline.squeeze.convert)
so the device runs exactly what a whole-model variant would; its int8 output is the crossing tensor.
The tail is converted without quantization: the worker has float hardware, and a float tail adds no
second rounding on top of the head's. The worker dequantizes the crossing tensor with the head's
output scale and zero point, so any head/tail pair composes without calibrating the tail.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controller.split.graph import as_functional
from controller.split.graph import layer_graph
from controller.split.graph import valid_cuts
from specs.errors import StageError


@dataclass(frozen=True)
class SplitArtifacts:
    head_tflite: bytes | None      # None when the cut is at the input (edge only)
    tail_tflite: bytes | None      # None when the cut is at the output (no split)


def _keras():
    from controller.pipeline.tf_runtime import import_tf

    return import_tf()[1]


def _copy(model):
    """A copy with the same weights: building the tail calls layers again, which must not touch the original."""
    keras = _keras()
    model = as_functional(model)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def head_model(model, layer: str):
    """Input -> the output of `layer` (which must be a valid cut)."""
    keras = _keras()
    model = _copy(model)
    return keras.Model(model.inputs, model.get_layer(layer).output, name=f"{model.name}_head_{layer}")


def tail_model(model, layer: str):
    """A new input shaped like `layer`'s output -> the model's output, replaying the later layers."""
    keras = _keras()
    graph = layer_graph(model)
    start = _cut_index(graph, layer)
    model = _copy(model)
    source = graph.nodes[start]
    new_input = keras.Input(shape=source.output_shape, name=f"{layer}_in")
    tensors = {source.name: new_input}
    for node in graph.nodes[start + 1:]:
        args = [tensors[name] for name in node.inputs]
        tensors[node.name] = model.get_layer(node.name)(args[0] if len(args) == 1 else args)
    return keras.Model(new_input, tensors[graph.output.name], name=f"{model.name}_tail_{layer}")


def _cut_index(graph, layer: str) -> int:
    for cut in valid_cuts(graph):
        if cut.layer == layer:
            return cut.index
    names = ", ".join(c.layer for c in valid_cuts(graph))
    raise StageError(f"'{layer}' is not a valid cut of model {graph.name} (more than one tensor crosses there, "
                     f"or no such layer); valid cuts: {names}")


def calibration_snapshot(representative_data: np.ndarray):
    """A Snapshot holding only calibration samples, the input the shared int8 converter takes."""
    from controller.pipeline.datasets import Snapshot

    return Snapshot(task="classification", classes=None,
                    arrays={"x_train": np.asarray(representative_data, dtype=np.float32)})


def convert_head(model, layer: str, representative_data: np.ndarray, seed: int = 0) -> bytes:
    from controller.pipeline.squeeze import convert

    return convert(head_model(model, layer), "int8", calibration_snapshot(representative_data), seed)


def convert_tail(model, layer: str, seed: int = 0) -> bytes:
    from controller.pipeline.squeeze import convert

    return convert(tail_model(model, layer), "none", calibration_snapshot(np.zeros((1, 1), np.float32)), seed)


def split_artifacts(model, layer: str, representative_data: np.ndarray, seed: int = 0) -> SplitArtifacts:
    """Head int8 .tflite (device) and tail float .tflite (worker) for the cut after `layer`."""
    graph = layer_graph(model)
    index = _cut_index(graph, layer)
    head = convert_head(model, layer, representative_data, seed) if index > 0 else None
    tail = convert_tail(model, layer, seed) if index < len(graph.nodes) - 1 else None
    return SplitArtifacts(head_tflite=head, tail_tflite=tail)
