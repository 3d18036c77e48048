"""Checks that a Model asks for figures its Dataset's task has: accuracy gates (and early stopping
on accuracy) for classification, MAE for regression. Pure: judged from the spec texts alone.

Without them a regression Model with `minAccuracy` passes its gates at any error, and a
classifier with `maxMAE` passes at any accuracy.
"""
from __future__ import annotations

from controller.loading.documents import LoadedDocument
from controller.loading.issues import SpecIssue
from specs.v1alpha1 import Dataset
from specs.v1alpha1 import Model

# The task whose figure each metric gate checks, and the early-stopping monitors each task measures.
GATE_TASK = {"minAccuracy": "classification", "maxAccuracyDrop": "classification", "maxMAE": "regression"}
TASK_MONITORS = {"classification": ("val_loss", "val_accuracy"), "regression": ("val_loss", "val_mae")}


def check_task_figures(docs: list[LoadedDocument]) -> list[SpecIssue]:
    tasks = {d.spec.name: d.spec.spec.task for d in docs if isinstance(d.spec, Dataset)}
    issues = []
    for doc in docs:
        if not isinstance(doc.spec, Model) or doc.spec.spec.dataset not in tasks:
            continue  # a dangling dataset is reported by check_references
        spec, task = doc.spec.spec, tasks[doc.spec.spec.dataset]
        about = f"Dataset '{spec.dataset}' is a {task} dataset"
        for gate, gate_task in GATE_TASK.items():
            if gate_task != task and getattr(spec.gates, gate) is not None:
                fitting = ", ".join(g for g, t in GATE_TASK.items() if t == task)
                issues.append(doc.issue(("spec", "gates", gate),
                                        f"{gate} is a {gate_task} gate and {about}; gate on {fitting} "
                                        "(and maxSize, maxArena)"))
        stopping = spec.training.earlyStopping
        if stopping is not None and stopping.monitor not in TASK_MONITORS[task]:
            issues.append(doc.issue(("spec", "training", "earlyStopping", "monitor"),
                                    f"{stopping.monitor} is not measured for Dataset '{spec.dataset}', a {task} "
                                    f"dataset; monitor one of {', '.join(TASK_MONITORS[task])}"))
    return issues
