"""Squeezing options on a real trained model: prune + cluster + int8, float16, dynamic range, QAT."""
from __future__ import annotations

import numpy as np
import pytest

from controller.pipeline.datasets import build_snapshot
from controller.pipeline.measure import measure_variant
from controller.pipeline.squeeze import squeeze
from controller.pipeline.training import train
from runtimes.litert import run_litert
from specs.v1alpha1.dataset import DatasetSpec
from specs.v1alpha1.model import ModelSpec
from specs.v1alpha1.model import Variant


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    snapshot = build_snapshot(DatasetSpec.model_validate(
        {"task": "classification", "sources": [{"type": "packaged", "name": "sklearn.digits"}],
         "preprocessing": {"normalize": {"method": "minmax"}}}), tmp)
    spec = ModelSpec.model_validate({"dataset": "d", "architecture": {"preset": "mlp", "units": [32]},
                                     "training": {"epochs": 6, "seed": 5, "learningRate": 0.005}})
    return snapshot, spec, train(snapshot, spec, tmp)


def test_prune_cluster_int8_keeps_sparsity_and_few_distinct_weights(trained):
    snapshot, spec, outcome = trained
    variant = Variant(name="pcq", quantization="int8", pruning={"sparsity": 0.6, "epochs": 2},
                      clustering={"clusters": 8, "epochs": 1})
    result = squeeze(outcome.model, variant, snapshot, spec.training)
    assert result.steps == ["prune 0.6", "cluster 8", "convert int8"]
    kernel = result.model.layers[2].get_weights()[0]  # input -> flatten -> dense_0
    assert np.mean(kernel == 0) >= 0.55
    assert len(np.unique(kernel)) <= 8 + 1  # the clusters, plus the preserved zeros
    figures = measure_variant(result.tflite, result.model, snapshot)
    plain = measure_variant(squeeze(outcome.model, Variant(name="int8"), snapshot, spec.training).tflite,
                            outcome.model, snapshot)
    assert figures["gzip_bytes"] < plain["gzip_bytes"]  # what travels over the air shrinks
    assert figures["tflm"]["accuracy"] > 0.6 and figures["arena_bytes"] > 0
    assert figures["nonzero_parameters"] < plain["nonzero_parameters"]
    assert figures["distinct_weights"]["dense_0"] <= 8 + 1 < plain["distinct_weights"]["dense_0"]


@pytest.mark.parametrize("quantization", ["float16", "dynamic"])
def test_float16_and_dynamic_range_convert_and_run_on_litert(trained, quantization):
    snapshot, spec, outcome = trained
    result = squeeze(outcome.model, Variant(name="v", quantization=quantization), snapshot, spec.training)
    outputs = run_litert(result.tflite, snapshot.x("test"))
    accuracy = float(np.mean(outputs.argmax(axis=1) == snapshot.y("test")))
    assert abs(accuracy - outcome.metrics["accuracy"]) < 0.03


def test_quantization_aware_training_runs_on_tflm(trained):
    snapshot, spec, outcome = trained
    result = squeeze(outcome.model, Variant(name="qat", qat=True, qatEpochs=1), snapshot, spec.training)
    figures = measure_variant(result.tflite, result.model, snapshot)
    assert "qat" in result.steps and figures["tflm"]["accuracy"] > outcome.metrics["accuracy"] - 0.05
