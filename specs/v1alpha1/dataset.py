"""The `Dataset` kind: where samples come from, how they are prepared and split."""
from __future__ import annotations

import math
from typing import Annotated
from typing import Literal

from pydantic import Field
from pydantic import field_validator
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


# Speech: 1 s clips at 16 kHz synthesised by espeak-ng (controller/pipeline/speech.py). Words are plain
# lowercase letters: they become an argument of a host program, so nothing else is accepted.
SPEECH_SAMPLE_RATE = 16_000
SPEECH_CLIP = SPEECH_SAMPLE_RATE  # samples per clip: one second
SPEECH_UNKNOWN, SPEECH_SILENCE = "unknown", "silence"  # the labels of the two extra classes
# The Speech Commands keywords (Warden 2018), MLPerf Tiny's KWS vocabulary.
SPEECH_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# Other words, for the "unknown" class: Speech Commands' auxiliary words plus a few more.
SPEECH_UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
                        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                        "learn", "follow", "forward", "backward", "visual", "yet", "app", "lift", "often",
                        "top", "goal", "dawn", "note", "stuff")  # near misses of keywords, never homophones
Word = Annotated[str, Field(pattern=r"^[a-z]{1,20}$", description="Lowercase letters a-z only.")]


class SpeechSource(StrictModel):
    """Keywords spoken by espeak-ng with seeded voices, speeds, pitches, noise and time shifts.

    Classes: every word of `words`, then `unknown` (other words) unless `unknownWords` is empty, then
    `silence` (background noise only) unless `silence` is false; `utterancesPerWord` clips of each.
    The same spec and espeak-ng version give the same bytes.
    """

    type: Literal["generated"]
    generator: Literal["speech"]
    words: list[Word] = Field(min_length=1, max_length=64)
    unknownWords: list[Word] = Field(default_factory=lambda: list(SPEECH_UNKNOWN_WORDS), max_length=256)
    utterancesPerWord: int = Field(gt=0, le=10_000)
    silence: bool = True
    seed: Seed = 0
    noise: float = Field(default=0.1, ge=0.0, le=1.0,
                         description="Largest background noise amplitude, relative to the speech's peak.")
    shiftMs: int = Field(default=100, ge=0, le=500, description="Largest random time shift of a word.")

    @field_validator("words", "unknownWords", mode="before")
    @classmethod
    def _yaml_booleans(cls, words: object) -> object:
        if isinstance(words, list) and any(isinstance(w, bool) for w in words):
            raise ValueError('quote the words: YAML reads yes, no, on and off unquoted as true/false ("yes")')
        return words

    @model_validator(mode="after")
    def _distinct_words(self) -> SpeechSource:
        if len(set(self.words)) != len(self.words):
            raise ValueError("words: a word is listed twice")
        if {SPEECH_UNKNOWN, SPEECH_SILENCE} & set(self.words):
            raise ValueError(f"words: '{SPEECH_UNKNOWN}' and '{SPEECH_SILENCE}' name the extra classes")
        if both := sorted(set(self.words) & set(self.unknownWords)):
            raise ValueError(f"'{both[0]}' is both a keyword and an unknown word")
        return self

    @property
    def classes(self) -> list[str]:
        return [*self.words, *([SPEECH_UNKNOWN] if self.unknownWords else []),
                *([SPEECH_SILENCE] if self.silence else [])]

    @property
    def samples(self) -> int:
        return self.utterancesPerWord * len(self.classes)


def generated_shape(source: GeneratedSource | SpeechSource) -> tuple[int, ...]:
    """The shape of one generated sample, known before generating: what `samples` costs in memory."""
    if isinstance(source, SpeechSource):
        return (SPEECH_CLIP, 1)
    return GENERATED_SAMPLE_SHAPES[source.generator]


class CollectedSource(StrictModel):
    """Sensor windows collected from a fleet's devices (filled by the collector)."""

    type: Literal["collected"]
    fleet: Name
    sensor: str = Field(min_length=1, max_length=63)
    window: int = Field(gt=0, le=1_000_000, description="Samples per window.")
    labels: list[Annotated[str, Field(min_length=1, max_length=63)]] = Field(min_length=1)


Source = Annotated[
    FilesSource | PackagedSource | Annotated[GeneratedSource | SpeechSource, Field(discriminator="generator")]
    | CollectedSource,
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


class AudioFeatures(StrictModel):
    """A log-mel or MFCC front end over clips of audio (runtimes/audio_features.py, the same code on
    the host and on Linux boards); its parameters are stored in the snapshot and travel with the model."""

    kind: Literal["mfcc", "logmel"] = "mfcc"
    sampleRate: int = Field(default=SPEECH_SAMPLE_RATE, ge=1000, le=96_000)
    frameMs: float = Field(default=40.0, gt=0.0, le=1000.0, description="Window length of one frame.")
    strideMs: float = Field(default=20.0, gt=0.0, le=1000.0)
    melBins: int = Field(default=40, ge=1, le=256)
    coefficients: int = Field(default=10, ge=1, le=256, description="MFCC coefficients kept (mfcc only).")
    lowerHz: float = Field(default=20.0, ge=0.0)
    upperHz: float = Field(default=4000.0, gt=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> AudioFeatures:
        if not self.lowerHz < self.upperHz <= self.sampleRate / 2:
            raise ValueError("need lowerHz < upperHz <= sampleRate / 2")
        if self.kind == "mfcc" and self.coefficients > self.melBins:
            raise ValueError("coefficients cannot exceed melBins")
        return self


class Preprocessing(StrictModel):
    normalize: Normalize = Field(default_factory=Normalize)
    audioFeatures: AudioFeatures | None = None
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
