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
