"""Seeded, reproducible Keras training with early stopping, history and progress."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.pipeline.datasets import Snapshot
from controller.pipeline.metrics import task_metrics
from controller.pipeline.presets import keras_model
from controller.pipeline.tf_runtime import import_tf
from specs.v1alpha1.model import ModelSpec
from specs.v1alpha1.model import Training
from wire.logs import Say


@dataclass
class TrainOutcome:
    model: object                 # tf_keras.Model
    history: dict[str, list[float]]
    metrics: dict                 # on the test split, float Keras model
    epochs_run: int


def seed_everything(seed: int) -> None:
    tf, keras = import_tf()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model, training: Training, task: str, learning_rate: float | None = None) -> None:
    _, keras = import_tf()
    rate = learning_rate if learning_rate is not None else training.learningRate
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
                 "rmsprop": keras.optimizers.RMSprop}[training.optimizer](learning_rate=rate)
    if task == "classification":
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])


class _ProgressLine:
    """A Keras callback that reports one line per epoch through `progress`."""

    def __new__(cls, progress: Say, label: str, epochs: int):
        _, keras = import_tf()

        class Callback(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                shown = " ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
                progress(f"{label}: epoch {epoch + 1}/{epochs} {shown}")

        return Callback()


def fit(model, snapshot: Snapshot, training: Training, epochs: int, progress: Say | None,
        label: str, extra_callbacks: list | None = None, early_stopping: bool = True):
    _, keras = import_tf()
    callbacks = list(extra_callbacks or [])
    if early_stopping and training.earlyStopping:
        monitor = training.earlyStopping.monitor
        if snapshot.task == "regression" and monitor == "val_accuracy":
            monitor = "val_mae"
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=training.earlyStopping.patience,
                                                       restore_best_weights=True))
    if progress:
        callbacks.append(_ProgressLine(progress, label, epochs))
    validation = (snapshot.x("validation"), snapshot.y("validation")) if len(snapshot.y("validation")) else None
    return model.fit(snapshot.x("train"), snapshot.y("train"), batch_size=training.batchSize, epochs=epochs,
                     validation_data=validation, shuffle=True, verbose=0, callbacks=callbacks)


def train(snapshot: Snapshot, spec: ModelSpec, search_path: Path, progress: Say | None = None,
          label: str = "train", *, allow_repo_code: bool = False, root: Path | None = None,
          limits: Limits = DEFAULT_LIMITS) -> TrainOutcome:
    """Train the spec's architecture on the snapshot's train split (validation for early stopping only).

    An entry point runs only with `allow_repo_code` (the controller's --allow-repo-code), from inside `root`.
    """
    _, keras = import_tf()
    seed_everything(spec.training.seed)
    model = keras_model(keras, spec.architecture, snapshot.input_shape, snapshot.task, snapshot.outputs, search_path,
                        allow_repo_code=allow_repo_code, root=root, limits=limits)
    compile_model(model, spec.training, snapshot.task)
    history = fit(model, snapshot, spec.training, spec.training.epochs, progress, label)
    outputs = model.predict(snapshot.x("test"), batch_size=256, verbose=0)
    metrics = task_metrics(snapshot.task, snapshot.y("test"), np.asarray(outputs), snapshot.outputs)
    hist = {k: [float(v) for v in values] for k, values in history.history.items()}
    return TrainOutcome(model=model, history=hist, metrics=metrics, epochs_run=len(history.epoch))
