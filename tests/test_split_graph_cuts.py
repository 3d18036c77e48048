"""Valid cut points: exactly one tensor crosses. Branches (residual, parallel) are never cut inside,
and head + tail recompose the original model exactly."""
from __future__ import annotations

import numpy as np
import pytest

from controller.split.graph import LayerGraph
from controller.split.graph import LayerNode
from controller.split.graph import valid_cuts
from controller.split.profile import profile_graph

pytestmark = pytest.mark.ml


def _node(name, inputs=(), shape=(4,), macs=0, params=0):
    return LayerNode(name=name, kind="Dense", inputs=tuple(inputs), output_shape=shape, params=params,
                     weight_bytes_int8=params, macs=macs)


def test_chain_can_be_cut_after_every_layer():
    graph = LayerGraph("chain", tuple([_node("in")] + [_node(f"l{i}", [f"l{i - 1}" if i else "in"]) for i in range(5)]))
    assert [c.layer for c in valid_cuts(graph)] == ["in", "l0", "l1", "l2", "l3", "l4"]


def test_parallel_branches_are_only_cut_around_the_block():
    #        +-- a --+
    # in -- s         concat -- out
    #        +-- b --+
    graph = LayerGraph("branches", (
        _node("in"), _node("s", ["in"]), _node("a", ["s"]), _node("b", ["s"]), _node("concat", ["a", "b"]),
        _node("out", ["concat"])))
    assert [c.layer for c in valid_cuts(graph)] == ["in", "s", "concat", "out"]


def test_skip_connection_from_the_input_leaves_only_the_ends():
    graph = LayerGraph("skip", (_node("in"), _node("a", ["in"]), _node("b", ["a"]), _node("add", ["in", "b"])))
    assert [c.layer for c in valid_cuts(graph)] == ["in", "add"]


def test_profile_splits_macs_params_and_bytes_between_head_and_tail():
    graph = LayerGraph("chain", (_node("in", shape=(8, 8, 1)), _node("c", ["in"], (8, 8, 4), macs=100, params=40),
                                 _node("d", ["c"], (10,), macs=2560, params=2570)))
    profile = profile_graph(graph)
    rows = {c.layer: c for c in profile.cuts}
    assert rows["in"].edge_only and rows["in"].crossing_bytes == 64 * 4  # raw float32 input
    assert rows["c"].crossing_bytes == 256 and rows["c"].reply_bytes == 40  # int8 tensor out, float32 reply back
    assert rows["d"].whole and rows["d"].crossing_bytes == 0
    for row in profile.cuts:
        assert row.head_macs + row.tail_macs == 2660 and row.head_params + row.tail_params == 2610
    assert rows["c"].head_arena_bytes == 64 + 256  # input and conv output alive together


@pytest.fixture(scope="module")
def residual_model():
    from controller.pipeline.tf_runtime import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="inner")(x)
    x = keras.layers.Add(name="residual")([x, y])
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inp, out)


def test_keras_residual_block_is_not_cut_inside(residual_model):
    from controller.split.graph import layer_graph

    assert [c.layer for c in valid_cuts(layer_graph(residual_model))] == [
        "image", "stem", "residual", "pool", "flatten", "out"]


def test_head_and_tail_recompose_the_model(residual_model):
    from controller.split.models import head_model
    from controller.split.models import tail_model

    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32)
    expected = residual_model.predict(x, verbose=0)
    for layer in ["stem", "residual", "flatten"]:
        head, tail = head_model(residual_model, layer), tail_model(residual_model, layer)
        np.testing.assert_allclose(tail.predict(head.predict(x, verbose=0), verbose=0), expected, rtol=1e-5, atol=1e-6)
    # building sub-models leaves the original untouched (no layer gains a second call)
    from controller.split.graph import layer_graph
    assert len(layer_graph(residual_model).nodes) == 7


def test_cut_inside_a_branch_is_refused_with_the_valid_ones(residual_model):
    from controller.split.models import tail_model
    from specs.errors import StageError

    with pytest.raises(StageError, match="valid cuts: image, stem, residual"):
        tail_model(residual_model, "inner")
