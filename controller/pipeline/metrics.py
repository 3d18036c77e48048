"""Figures of a model on a split: accuracy and confusion matrix, or MAE and RMSE. Pure numpy."""
from __future__ import annotations

import numpy as np


def task_metrics(task: str, y_true: np.ndarray, outputs: np.ndarray, classes: int | None = None) -> dict:
    if task == "classification":
        predicted = np.argmax(outputs.reshape(len(y_true), -1), axis=1)
        n = classes or int(max(y_true.max(), predicted.max()) + 1)
        confusion = np.zeros((n, n), dtype=np.int64)
        np.add.at(confusion, (y_true.astype(np.int64), predicted), 1)
        return {"accuracy": float(np.mean(predicted == y_true)), "confusion_matrix": confusion.tolist()}
    error = outputs.reshape(len(y_true)) - y_true.astype(np.float32)
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}


def headline(task: str, metrics: dict) -> float:
    """The one figure gates and tables compare: accuracy (higher is better) or MAE (lower is better)."""
    return metrics["accuracy"] if task == "classification" else metrics["mae"]
