"""Training is seeded and reproducible; every preset and a user's entry point build and train."""
from __future__ import annotations

import numpy as np
import pytest

from controller.pipeline.datasets import build_snapshot
from controller.pipeline.training import train
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec
from specs.v1alpha1.model import ModelSpec


def model_spec(architecture: dict, epochs: int = 3, **training) -> ModelSpec:
    return ModelSpec.model_validate({"dataset": "d", "architecture": architecture,
                                     "training": {"epochs": epochs, "seed": 11, **training}})


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    spec = DatasetSpec.model_validate({"task": "classification", "sources": [{"type": "packaged",
                                                                              "name": "sklearn.digits"}],
                                       "preprocessing": {"normalize": {"method": "minmax"}}})
    return build_snapshot(spec, tmp_path_factory.mktemp("d"))


@pytest.fixture(scope="module")
def gestures(tmp_path_factory):
    spec = DatasetSpec.model_validate({"task": "classification", "sources": [
        {"type": "generated", "generator": "gestures", "samples": 240, "seed": 4, "noise": 0.05}]})
    return build_snapshot(spec, tmp_path_factory.mktemp("g"))


def test_same_seed_same_history_and_metrics(digits, tmp_path):
    spec = model_spec({"preset": "mlp", "units": [32]}, epochs=4, learningRate=0.005)
    lines: list[str] = []
    first = train(digits, spec, tmp_path, progress=lines.append)
    second = train(digits, spec, tmp_path)
    assert first.history == second.history and first.metrics == second.metrics
    assert first.metrics["accuracy"] > 0.6  # chance is 0.1
    assert np.array(first.metrics["confusion_matrix"]).sum() == len(digits.y("test"))
    assert [line.split(" accuracy")[0] for line in lines] == [f"train: epoch {i}/4" for i in range(1, 5)]
    other = train(digits, model_spec({"preset": "mlp", "units": [32]}, epochs=4, learningRate=0.005, seed=12), tmp_path)
    assert other.history != first.history


def test_early_stopping_stops_before_the_epoch_limit(digits, tmp_path):
    spec = model_spec({"preset": "mlp", "units": [8]}, epochs=200, learningRate=0.05,
                      earlyStopping={"monitor": "val_loss", "patience": 1})
    outcome = train(digits, spec, tmp_path)
    assert outcome.epochs_run < 200


@pytest.mark.parametrize("preset", ["cnn1d", "cnn2d", "dscnn"])
def test_convolutional_presets_train_on_time_series(gestures, tmp_path, preset):
    outcome = train(gestures, model_spec({"preset": preset, "units": [8, 8]}, epochs=2), tmp_path)
    assert outcome.model.output_shape == (None, 4) and 0.0 <= outcome.metrics["accuracy"] <= 1.0


def test_entry_point_from_the_spec_repository(digits, tmp_path):
    (tmp_path / "my_models.py").write_text(
        "import tf_keras as keras\n"
        "def tiny(input_shape, outputs, task):\n"
        "    inputs = keras.Input(input_shape)\n"
        "    x = keras.layers.Flatten()(inputs)\n"
        "    return keras.Model(inputs, keras.layers.Dense(outputs, activation='softmax')(x))\n")
    outcome = train(digits, model_spec({"entryPoint": "my_models:tiny"}, epochs=1), tmp_path, allow_repo_code=True)
    assert outcome.model.count_params() == 64 * 10 + 10
    with pytest.raises(StageError, match="has no function missing"):
        train(digits, model_spec({"entryPoint": "my_models:missing"}, epochs=1), tmp_path, allow_repo_code=True)
