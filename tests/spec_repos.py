"""Small spec repositories written into temp dirs for the pipeline tests (seconds to train, not minutes)."""
from __future__ import annotations

from pathlib import Path

from controller.loading import load_repository

SINE_DATASET = """\
apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: sine}
spec:
  task: regression
  sources: [{type: generated, generator: sine, samples: 600, seed: 3, noise: 0.02}]
  preprocessing: {normalize: {method: standard}}
  split: {train: 0.7, validation: 0.15, test: 0.15, seed: 3}
"""

SINE_MODEL = """\
apiVersion: origami/v1alpha1
kind: Model
metadata: {name: sine}
spec:
  dataset: sine
  architecture: {preset: mlp, units: [16, 16]}
  training: {epochs: %(epochs)d, batchSize: 32, learningRate: 0.01, seed: 3}
  variants:
%(variants)s
  gates:
%(gates)s
"""


def sine_repo(root: Path, variants: str = "    - {name: float32, quantization: none}\n    - {name: int8}",
              gates: str = "    maxMAE: 5.0", epochs: int = 8):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.yaml").write_text(SINE_DATASET)
    (root / "model.yaml").write_text(SINE_MODEL % {"epochs": epochs, "variants": variants, "gates": gates})
    return load_repository(root).require_valid()


# A new user's own data, unlike the examples: 13 numeric features and 3 classes in a CSV whose label is
# the *first* column (as in UCI's wine data), 59/71/48 rows per class: the last column is a feature.
WINE_COLUMNS = ["class", "alcohol", "malic_acid", "ash", "alcalinity", "magnesium", "phenols", "flavanoids",
                "nonflavanoid", "proanthocyanins", "color", "hue", "od280", "proline"]
WINE_COUNTS = (59, 71, 48)

USER_DATASET = """\
apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: wine}
spec:
  task: %(task)s
  sources:
    - type: files
      format: csv
      path: data/wine.csv%(target)s
  split: {train: 0.7, validation: 0.15, test: 0.15, seed: 1%(stratify)s}
"""

USER_MODEL = """\
apiVersion: origami/v1alpha1
kind: Model
metadata: {name: wine}
spec:
  dataset: wine
  architecture: %(architecture)s
  training: {epochs: %(epochs)d, batchSize: 16, learningRate: 0.01, seed: 1}
  variants:
%(variants)s
  gates:
%(gates)s
"""


def write_wine_csv(path: Path, seed: int = 7) -> None:
    """Seeded rows whose classes differ in their feature means, so that a small model learns them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.5, size=(len(WINE_COUNTS), len(WINE_COLUMNS) - 1))
    rows = [(c, rng.normal(means[c], 1.0)) for c, n in enumerate(WINE_COUNTS) for _ in range(n)]
    order = rng.permutation(len(rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(WINE_COLUMNS)] + [",".join([str(rows[i][0] + 1)] + [f"{v:.3f}" for v in rows[i][1]])
                                        for i in order]
    path.write_text("\n".join(lines) + "\n")


def user_repo(root: Path, *, task: str = "classification", target: str | None = "class", stratify: str = "",
              architecture: str = "{preset: mlp, units: [16]}", epochs: int = 30,
              variants: str = "    - {name: int8}", gates: str = "    minAccuracy: 0.5") -> Path:
    """A spec repository around `write_wine_csv` (not validated: the tests judge its errors)."""
    write_wine_csv(root / "data" / "wine.csv")
    (root / "dataset.yaml").write_text(USER_DATASET % {
        "task": task, "target": f"\n      target: {target}" if target else "",
        "stratify": f", stratify: {stratify}" if stratify else ""})
    (root / "model.yaml").write_text(USER_MODEL % {"architecture": architecture, "epochs": epochs,
                                                   "variants": variants, "gates": gates})
    return root

USER_FLEET = """\
apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: cellar}
spec:
  model: wine
  selector: {boards: [nano33ble, rpi4]}
"""
