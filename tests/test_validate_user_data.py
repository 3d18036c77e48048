"""A new user's own CSV (tests/spec_repos.py `user_repo`: 13 features, 3 classes, label first): what used
to give wrong answers silently is now an error located at the spec's file, line and field."""
from __future__ import annotations

import pytest

from controller.cli.main import main
from controller.loading import load_repository
from controller.pipeline.datasets import build_snapshot
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec
from tests.spec_repos import user_repo


def errors(root) -> list[str]:
    return [str(issue) for issue in load_repository(root).issues]


def test_a_csv_source_without_target_is_located_and_lists_the_columns_instead_of_taking_the_last(tmp_path, capsys):
    user_repo(tmp_path, target=None)
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("dataset.yaml:7:7: Dataset/wine: spec.sources[0].target: 'data/wine.csv': a CSV source "
                          "needs `target`: the column holding the class label (no column is guessed); the columns "
                          "are 'class', 'alcohol', 'malic_acid',")
    assert "and 2 more" in out.splitlines()[0]
    # The reader of an unvalidated checkout refuses it too, rather than training on the last column.
    spec = DatasetSpec.model_validate({"task": "classification",
                                       "sources": [{"type": "files", "format": "csv", "path": "data/wine.csv"}]})
    with pytest.raises(StageError, match=r"^data/wine.csv: a CSV source needs `target`"):
        build_snapshot(spec, tmp_path)


def test_a_target_that_is_not_a_column_is_located(tmp_path):
    user_repo(tmp_path, target="cultivar")
    assert errors(tmp_path) == ["dataset.yaml:10:15: Dataset/wine: spec.sources[0].target: 'data/wine.csv': no "
                                "column named 'cultivar'; the columns are 'class', 'alcohol', 'malic_acid', 'ash', "
                                "'alcalinity', 'magnesium', 'phenols', 'flavanoids', 'nonflavanoid', "
                                "'proanthocyanins', 'color', 'hue' and 2 more"]


def test_accuracy_gates_on_a_regression_dataset_are_errors_at_their_lines(tmp_path):
    user_repo(tmp_path, task="regression", target="proline", gates="    minAccuracy: 0.9\n    maxAccuracyDrop: 0.01")
    assert errors(tmp_path) == [
        "model.yaml:11:18: Model/wine: spec.gates.minAccuracy: minAccuracy is a classification gate and "
        "Dataset 'wine' is a regression dataset; gate on maxMAE (and maxSize, maxArena)",
        "model.yaml:12:22: Model/wine: spec.gates.maxAccuracyDrop: maxAccuracyDrop is a classification gate and "
        "Dataset 'wine' is a regression dataset; gate on maxMAE (and maxSize, maxArena)"]


def test_an_mae_gate_or_mae_early_stopping_on_a_classification_dataset_is_an_error(tmp_path):
    user_repo(tmp_path, gates="    maxMAE: 0.3")
    text = (tmp_path / "model.yaml").read_text().replace(
        "seed: 1}", "seed: 1, earlyStopping: {monitor: val_mae}}")
    (tmp_path / "model.yaml").write_text(text)
    assert [e.split(": ", 3)[2:] for e in errors(tmp_path)] == [
        ["spec.training.earlyStopping.monitor", "val_mae is not measured for Dataset 'wine', a classification "
                                                "dataset; monitor one of val_loss, val_accuracy"],
        ["spec.gates.maxMAE", "maxMAE is a regression gate and Dataset 'wine' is a classification dataset; gate "
                              "on minAccuracy, maxAccuracyDrop (and maxSize, maxArena)"]]


def test_the_same_repository_with_target_and_fitting_gates_is_valid(tmp_path):
    user_repo(tmp_path)
    assert errors(tmp_path) == []
