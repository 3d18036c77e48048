"""The layer graph of a Keras model and its valid cut points.

A cut after position i of a topological order puts layers[:i+1] on the device (the head) and the
rest on the worker (the tail). It is valid only when exactly one tensor crosses from head to tail,
so that one message carries the whole intermediate state; in a branching model (a residual block,
an inception module) cuts inside the branches are therefore not valid. Everything below the
extraction (`layer_graph`) is pure and works on plain data, so the choice never needs TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from specs.errors import StageError


@dataclass(frozen=True)
class LayerNode:
    name: str
    kind: str                          # Keras class name
    inputs: tuple[str, ...]            # producer layer names, in call order
    output_shape: tuple[int, ...]      # without the batch axis
    params: int
    weight_bytes_int8: int             # int8 kernels + int32 biases, as full-integer quantization stores them
    macs: int

    @property
    def output_elements(self) -> int:
        return int(np.prod(self.output_shape)) if self.output_shape else 1


@dataclass(frozen=True)
class LayerGraph:
    """Single-input, single-output graph; `nodes` in topological order, the input layer first."""

    name: str
    nodes: tuple[LayerNode, ...]

    @property
    def input(self) -> LayerNode:
        return self.nodes[0]

    @property
    def output(self) -> LayerNode:
        return self.nodes[-1]

    def index(self, layer: str) -> int:
        for i, node in enumerate(self.nodes):
            if node.name == layer:
                return i
        raise KeyError(layer)


@dataclass(frozen=True)
class Cut:
    """Head = nodes[:index + 1]; `layer` produces the one crossing tensor."""

    index: int
    layer: str
    crossing_shape: tuple[int, ...]

    @property
    def crossing_elements(self) -> int:
        return int(np.prod(self.crossing_shape)) if self.crossing_shape else 1


def valid_cuts(graph: LayerGraph) -> list[Cut]:
    """Every position where exactly one tensor crosses, from the input (edge only) to the output
    (whole model on the device). Linear in nodes + edges."""
    position = {node.name: i for i, node in enumerate(graph.nodes)}
    last_use = {node.name: position[node.name] for node in graph.nodes}
    for i, node in enumerate(graph.nodes):
        for producer in node.inputs:
            last_use[producer] = max(last_use[producer], i)
    last_use[graph.output.name] = len(graph.nodes)  # the model output leaves the graph
    ends_at: dict[int, int] = {}
    for end in last_use.values():
        ends_at[end] = ends_at.get(end, 0) + 1
    cuts: list[Cut] = []
    live = 0  # tensors produced at or before i and still needed after i
    for i, node in enumerate(graph.nodes):
        crosses = last_use[node.name] > i
        live += (1 if crosses else 0) - (ends_at.get(i, 0) - (0 if crosses else 1))
        if live == 1 and crosses:
            cuts.append(Cut(index=i, layer=node.name, crossing_shape=node.output_shape))
    return cuts


# --- extraction from a tf_keras model (needs TensorFlow) -------------------------------------------

def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, list):
        if len(shape) != 1:
            raise StageError("splitting needs layers with one output each")
        shape = shape[0]
    return tuple(int(d) for d in shape[1:] if d is not None)


def _weight_bytes(layer) -> int:
    # Full-integer quantization stores kernels as int8 and biases as int32 (batch norms fold away).
    total = 0
    for weight in layer.weights:
        if not weight.trainable and "moving" in weight.name:
            continue
        elements = int(np.prod(weight.shape))
        total += elements * (4 if "bias" in weight.name else 1)
    return total


def _layer_macs(layer) -> int:
    from controller.pipeline.measure import count_macs

    # count_macs walks `model.layers`; one layer at a time gives the per-layer figure.
    return count_macs(SimpleNamespace(layers=[layer]))


def as_functional(model):
    """A functional view of a Sequential or Functional tf_keras model (same layer objects)."""
    from controller.pipeline.tf_runtime import import_tf

    _, keras = import_tf()
    if not getattr(model, "_is_graph_network", False) or isinstance(model, keras.Sequential):
        if not model.inputs:
            raise StageError(f"model {model.name} is not built; give its first layer an input shape to split it")
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise StageError(f"model {model.name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "splitting needs exactly one of each")
    return model


def layer_graph(model) -> LayerGraph:
    """The pure graph of a tf_keras model, with per-layer shapes, parameters and MACs."""
    model = as_functional(model)
    config = model.get_config()
    producers: dict[str, tuple[str, ...]] = {}
    for entry in config["layers"]:
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise StageError(f"layer {entry['name']} is called {len(nodes)} times in model {model.name}; "
                             "splitting needs each layer used once")
        inputs: list[str] = []
        for node in nodes:
            if isinstance(node, dict):  # newer config format: {"args": [...], "kwargs": {...}}
                raise StageError(f"model {model.name} uses a Keras 3 config; build it with tf_keras (Keras 2)")
            inputs.extend(str(item[0]) for item in node)
        producers[entry["name"]] = tuple(inputs)
    by_name = {layer.name: layer for layer in model.layers}
    order = _topological([entry["name"] for entry in config["layers"]], producers)
    nodes = []
    for name in order:
        layer = by_name[name]
        nodes.append(LayerNode(
            name=name, kind=type(layer).__name__, inputs=producers[name], output_shape=_shape(layer.output_shape),
            params=int(layer.count_params()) if layer.built else 0, weight_bytes_int8=_weight_bytes(layer),
            macs=_layer_macs(layer)))
    graph = LayerGraph(name=model.name, nodes=tuple(nodes))
    if graph.output.name != model.output_names[0]:
        raise StageError(f"model {model.name}: layer {graph.output.name} is computed but never used; "
                         "remove dead branches before splitting")
    return graph


def _topological(names: list[str], producers: dict[str, tuple[str, ...]]) -> list[str]:
    """Kahn's algorithm, stable in the config's own order (which Keras already keeps topological)."""
    pending = {name: len(set(producers[name])) for name in names}
    consumers: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for producer in set(producers[name]):
            consumers[producer].append(name)
    ready = [name for name in names if pending[name] == 0]
    if len(ready) != 1:
        raise StageError(f"model has {len(ready)} input layers; splitting needs exactly one")
    order: list[str] = []
    rank = {name: i for i, name in enumerate(names)}
    while ready:
        ready.sort(key=rank.__getitem__)
        name = ready.pop(0)
        order.append(name)
        for consumer in consumers[name]:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    return order
