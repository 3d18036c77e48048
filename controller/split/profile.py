"""Per-cut figures of a model: what each side holds and computes, and what crosses the link.

Measured mode converts every head to int8 through the shared converter and measures its TFLM arena
in a subprocess (runtimes.tflm.measure_arena): the figures the device would really see.
Estimated mode (no TensorFlow conversion, no TFLM) derives flash from int8 weight bytes and the arena
from the peak of live int8 activations; it is what the benchmark uses for synthetic 100-layer graphs
and what `--estimate` prints, and every row says which mode produced it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass

import numpy as np

from controller.split.graph import Cut
from controller.split.graph import LayerGraph
from controller.split.graph import layer_graph
from controller.split.graph import valid_cuts
from wire.logs import Say
from wire.logs import get_logger

log = get_logger("split.profile")
FLOAT32_BYTES = 4
CALIBRATION_SAMPLES = 100


@dataclass(frozen=True)
class CutProfile:
    layer: str                    # the layer whose output crosses (the input layer: edge only)
    index: int                    # position in topological order; head = layers[:index + 1]
    edge_only: bool               # nothing of the model on the device; the raw input crosses
    whole: bool                   # the whole model on the device; nothing crosses (no split)
    head_params: int
    tail_params: int
    head_weight_bytes: int        # int8 kernels + int32 biases
    tail_weight_bytes: int
    head_macs: int
    tail_macs: int
    crossing_shape: tuple[int, ...]
    crossing_bytes: int           # int8 tensor from an int8 head; float32 raw input when edge only; 0 when whole
    reply_bytes: int              # the tail's float32 output sent back to the device; 0 when whole
    head_flash_bytes: int         # the head .tflite (measured) or its weight bytes (estimated)
    head_arena_bytes: int         # TFLM arena (measured) or peak live int8 activations (estimated)
    measured: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelProfile:
    model: str
    layers: int
    cuts: tuple[CutProfile, ...]

    def cut(self, layer: str) -> CutProfile:
        for cut in self.cuts:
            if cut.layer == layer:
                return cut
        raise KeyError(layer)


def estimated_arena(graph: LayerGraph, cut: Cut) -> int:
    """Peak bytes of int8 activations alive at once while the head runs (TFLM reuses dead buffers)."""
    head = graph.nodes[:cut.index + 1]
    last_use = {node.name: i for i, node in enumerate(head)}
    for i, node in enumerate(head):
        for producer in node.inputs:
            last_use[producer] = i
    last_use[cut.layer] = len(head)  # the crossing tensor is read out after the head
    peak = 0
    for i in range(len(head)):
        live = sum(head[j].output_elements for j in range(i + 1) if last_use[head[j].name] >= i)
        peak = max(peak, live)
    return peak


def profile_graph(graph: LayerGraph, head_figures: Callable[[Cut], tuple[int, int]] | None = None) -> ModelProfile:
    """Every valid cut's figures; `head_figures(cut) -> (flash, arena)` supplies measurements."""
    macs = np.cumsum([node.macs for node in graph.nodes])
    params = np.cumsum([node.params for node in graph.nodes])
    weights = np.cumsum([node.weight_bytes_int8 for node in graph.nodes])
    last = len(graph.nodes) - 1
    output_bytes = graph.output.output_elements * FLOAT32_BYTES
    rows = []
    for cut in valid_cuts(graph):
        edge_only, whole = cut.index == 0, cut.index == last
        if edge_only:
            flash, arena = 0, 0
        elif head_figures is not None:
            flash, arena = head_figures(cut)
        else:
            flash, arena = int(weights[cut.index]), estimated_arena(graph, cut)
        rows.append(CutProfile(
            layer=cut.layer, index=cut.index, edge_only=edge_only, whole=whole,
            head_params=int(params[cut.index]), tail_params=int(params[last] - params[cut.index]),
            head_weight_bytes=int(weights[cut.index]), tail_weight_bytes=int(weights[last] - weights[cut.index]),
            head_macs=int(macs[cut.index]), tail_macs=int(macs[last] - macs[cut.index]),
            crossing_shape=cut.crossing_shape,
            crossing_bytes=0 if whole else cut.crossing_elements * (FLOAT32_BYTES if edge_only else 1),
            reply_bytes=0 if whole else output_bytes,
            head_flash_bytes=flash, head_arena_bytes=arena, measured=head_figures is not None))
    return ModelProfile(model=graph.name, layers=len(graph.nodes), cuts=tuple(rows))


def calibration_data(model, representative_data: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """Calibration samples for the int8 heads. Sizes and arenas do not depend on the values, so
    without real data seeded uniform samples of the input's shape serve for profiling only."""
    if representative_data is not None:
        data = np.asarray(representative_data, dtype=np.float32)
        pick = np.random.default_rng(seed).permutation(len(data))[:CALIBRATION_SAMPLES]
        return data[np.sort(pick)]
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0.0, 1.0, (CALIBRATION_SAMPLES, *shape)).astype(np.float32)


def profile_model(model, representative_data: np.ndarray | None = None, measure: bool = True,
                  progress: Say | None = None) -> ModelProfile:
    """Profile a tf_keras model at every valid cut (measured on TFLM unless `measure` is False)."""
    graph = layer_graph(model)
    if not measure:
        return profile_graph(graph)
    from controller.split.models import convert_head
    from runtimes.tflm import measure_arena

    data = calibration_data(model, representative_data)
    cuts = [c for c in valid_cuts(graph) if c.index > 0]
    done = {"n": 0}

    def head_figures(cut: Cut) -> tuple[int, int]:
        done["n"] += 1
        if progress:
            progress(f"split {graph.name}: measuring head up to {cut.layer} ({done['n']}/{len(cuts)})")
        tflite = convert_head(model, cut.layer, data)
        arena = measure_arena(tflite).arena_bytes
        log.info("measured split head", extra={"model": graph.name, "cut": cut.layer, "flash": len(tflite),
                                               "arena": arena})
        return len(tflite), arena

    return profile_graph(graph, head_figures)
