"""A Model's own `module:function`: what used to be ignored or a raw traceback is a located error at
validate time (without running the code) or a clear build error; `examples/custom-model` builds."""
from __future__ import annotations

import pytest

from controller.loading import load_repository
from controller.pipeline.datasets import build_snapshot
from controller.pipeline.presets import keras_model
from controller.pipeline.training import train
from specs.errors import StageError
from specs.v1alpha1.model import Architecture
from tests.conftest import EXAMPLES
from tests.spec_repos import user_repo

GOOD = "import tf_keras as keras\ndef build(input_shape, outputs, task):\n    return None\n"


@pytest.fixture(scope="module")
def keras():
    from controller.pipeline.tf_runtime import import_tf

    return import_tf()[1]


def errors(root) -> list[str]:
    return [str(issue) for issue in load_repository(root).issues]


def custom(tmp_path, source: str = GOOD, architecture: str = '{entryPoint: "nets:build"}'):
    root = user_repo(tmp_path, architecture=architecture)
    (root / "nets.py").write_text(source)
    return root


def test_preset_options_beside_an_entry_point_are_errors_at_their_lines(tmp_path):
    root = custom(tmp_path, architecture='{entryPoint: "nets:build", units: [64], dropout: 0.2}')
    assert errors(root) == [
        "model.yaml:6:44: Model/wine: spec.architecture.units: units shapes a preset only; nets:build builds "
        "every layer itself (remove units, or set it inside the function)",
        "model.yaml:6:57: Model/wine: spec.architecture.dropout: dropout shapes a preset only; nets:build builds "
        "every layer itself (remove dropout, or set it inside the function)"]


@pytest.mark.parametrize(("source", "why"), [
    ("def build(shape):\n    pass\n",
     "build does not accept input_shape, outputs, task; it is called as build(input_shape=..., outputs=..., "
     "task=...)"),
    ("def build(input_shape, outputs, task, width):\n    pass\n",
     "build requires width, which the pipeline does not pass; it is called as build(input_shape=..., "
     "outputs=..., task=...)"),
    ("def build(input_shape, outputs, /, task):\n    pass\n", "build does not accept input_shape, outputs;"),
])
def test_a_function_that_cannot_take_the_arguments_is_a_validate_error_without_running_it(tmp_path, source, why):
    root = custom(tmp_path, "open('ran', 'w')\n" + source)
    [error] = errors(root)
    assert error.startswith(f"model.yaml:6:30: Model/wine: spec.architecture.entryPoint: module nets {why}")
    assert not (tmp_path / "ran").exists() and not (root / "ran").exists()


@pytest.mark.parametrize("source", ["def build(input_shape, outputs, task, width=8):\n    pass\n",
                                    "def build(**arguments):\n    pass\n",
                                    "def build(input_shape, *, outputs, task):\n    pass\n"])
def test_functions_that_take_the_arguments_validate(tmp_path, source):
    assert errors(custom(tmp_path, source)) == []


def test_a_missing_module_is_a_validate_error(tmp_path):
    root = custom(tmp_path)
    (root / "nets.py").unlink()
    assert errors(root) == ["model.yaml:6:30: Model/wine: spec.architecture.entryPoint: module nets has no file "
                            "nets.py or nets/__init__.py next to the Model's spec file"]


@pytest.mark.ml
@pytest.mark.parametrize(("head", "task", "outputs", "message"), [
    ("keras.layers.Dense(outputs)(x)", "classification", 3,
     "the model outputs logits, not probabilities (they do not sum to 1); end it with a softmax"),
    ("keras.layers.Dense(2, activation='softmax')(x)", "classification", 3,
     "the model's output has shape (None, 2); a classification model must output (None, 3)"),
    ("keras.layers.Dense(3)(x)", "regression", 1,
     "the model's output has shape (None, 3); a regression model must output (None, 1) (one value)"),
])
def test_a_model_that_returns_what_training_cannot_use_is_a_clear_build_error(keras, tmp_path, head, task, outputs,
                                                                              message):
    (tmp_path / "nets.py").write_text("import tf_keras as keras\ndef build(input_shape, outputs, task):\n"
                                      "    inputs = keras.Input(input_shape)\n"
                                      "    x = keras.layers.Dense(4, activation='relu')(inputs)\n"
                                      f"    return keras.Model(inputs, {head})\n")
    with pytest.raises(StageError) as refused:
        keras_model(keras, Architecture(entryPoint="nets:build"), (13,), task, outputs, tmp_path,
                    allow_repo_code=True)
    assert str(refused.value).startswith(f"architecture.entryPoint nets:build: {message}")


@pytest.mark.ml
def test_the_custom_model_example_validates_and_trains(tmp_path):
    example = EXAMPLES / "custom-model"
    repo = load_repository(example).require_valid()
    assert [n.field for n in repo.notices] == ["spec.architecture.entryPoint"]  # it runs repository code
    snapshot = build_snapshot(repo.datasets["wine"].spec, example)
    assert snapshot.input_shape == (13,) and snapshot.classes == ["class_0", "class_1", "class_2"]
    spec = repo.models["wine-mlp"].spec
    model = spec.model_copy(update={"training": spec.training.model_copy(update={"epochs": 30})})
    outcome = train(snapshot, model, example, allow_repo_code=True)
    assert outcome.model.output_shape == (None, 3)
    assert outcome.metrics["accuracy"] >= 0.9
