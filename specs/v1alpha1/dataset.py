"""The `Dataset` kind: where samples come from, how they are prepared and split."""
from __future__ import annotations

import math
from typing import Annotated
from typing import Literal

from pydantic import Field
from pydantic import model_validator

from specs.v1alpha1.common import Document
from specs.v1alpha1.common import Name
from specs.v1alpha1.common import StrictModel

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class FilesSource(StrictModel):
    """Samples read from files inside the spec repository (paths relative to the spec file)."""

    type: Literal["files"]
    format: Literal["csv", "npz", "images", "wav"]
    path: str = Field(min_length=1, max_length=1024)
    target: str | None = Field(default=None, description="CSV column or NPZ array holding the label/target.")
    features: str | None = Field(default=None, description="NPZ array holding the inputs (default 'x').")


class PackagedSource(StrictModel):
    """Data that ships inside an installed package, e.g. scikit-learn's digits."""

    type: Literal["packaged"]
    name: Literal["sklearn.digits", "sklearn.iris", "sklearn.wine", "sklearn.breast_cancer"]


# The classes of the `gestures` generator, in label order; virtual accelerometers perform the same ones.
GESTURE_CLASSES = ("idle", "shake", "circle", "tilt")
# The shape of one sample of each generator: what `samples` costs in memory, known before generating.
GENERATED_SAMPLE_SHAPES = {"sine": (1,), "gestures": (64, 3)}  # gestures: 64 readings of 3 axes at ~50 Hz


class GeneratedSource(StrictModel):
    """Seeded synthetic data."""

    type: Literal["generated"]
    generator: Literal["sine", "gestures"]
    samples: int = Field(gt=0, le=10_000_000)
    seed: Seed = 0
    noise: float = Field(default=0.0, ge=0.0, le=10.0)


class CollectedSource(StrictModel):
    """Sensor windows collected from a fleet's devices (filled by the collector)."""

    type: Literal["collected"]
    fleet: Name
    sensor: str = Field(min_length=1, max_length=63)
    window: int = Field(gt=0, le=1_000_000, description="Samples per window.")
    labels: list[Annotated[str, Field(min_length=1, max_length=63)]] = Field(min_length=1)


Source = Annotated[
    FilesSource | PackagedSource | GeneratedSource | CollectedSource,
    Field(discriminator="type"),
]


class Normalize(StrictModel):
    method: Literal["standard", "minmax", "none"] = "standard"


class Window(StrictModel):
    size: int = Field(gt=0, le=1_000_000)
    stride: int = Field(gt=0, le=1_000_000)


class Resize(StrictModel):
    height: int = Field(gt=0, le=4096)
    width: int = Field(gt=0, le=4096)


class Preprocessing(StrictModel):
    normalize: Normalize = Field(default_factory=Normalize)
    window: Window | None = None
    resize: Resize | None = None


class Split(StrictModel):
    train: Ratio = 0.7
    validation: Ratio = 0.15
    test: Ratio = 0.15
    seed: Seed = 0
    stratify: bool = Field(default=True, description=(
        "Classification: every split keeps the dataset's class proportions (false: one random cut)."))

    @model_validator(mode="after")
    def _ratios_sum_to_one(self) -> Split:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + validation + test must sum to 1, not {total:g}")
        if self.train == 0 or self.test == 0:
            raise ValueError("train and test ratios must both be above 0")
        return self


class RetrainPolicy(StrictModel):
    minNewSamples: int = Field(gt=0, le=10_000_000)


class DatasetSpec(StrictModel):
    task: Literal["classification", "regression"]
    sources: list[Source] = Field(min_length=1)
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    split: Split = Field(default_factory=Split)
    retrain: RetrainPolicy | None = None


class Dataset(Document):
    kind: Literal["Dataset"]
    spec: DatasetSpec
