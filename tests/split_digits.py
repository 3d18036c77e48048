"""The example digits CNN (examples/digits-mixed), trained briefly once per process for the split tests."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from controller.loading import load_repository

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits-mixed"
EPOCHS = 8  # about 98 % test accuracy on digits already; the example trains up to 30 (early stopping)


@dataclass(frozen=True)
class TrainedDigits:
    repo: object
    spec: object          # ModelSpec
    snapshot: object      # controller.pipeline.datasets.Snapshot
    model: object         # tf_keras.Model


@lru_cache(maxsize=1)
def trained_digits() -> TrainedDigits:
    from controller.pipeline.datasets import build_snapshot
    from controller.pipeline.training import train

    repo = load_repository(EXAMPLE).require_valid()
    model = repo.models["digits-cnn"]
    spec = model.spec.model_copy(update={"training": model.spec.training.model_copy(update={"epochs": EPOCHS})})
    dataset = repo.datasets[spec.dataset]
    snapshot = build_snapshot(dataset.spec, repo.source_of(dataset.ref))
    outcome = train(snapshot, spec, repo.source_of(model.ref))
    return TrainedDigits(repo=repo, spec=spec, snapshot=snapshot, model=outcome.model)


@lru_cache(maxsize=1)
def digits_profile():
    """Every valid cut of the trained digits CNN, heads converted to int8 and measured on TFLM."""
    from controller.split import profile_model

    digits = trained_digits()
    return profile_model(digits.model, digits.snapshot.x("train"))
