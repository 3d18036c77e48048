"""The `Model` kind: architecture, training, squeezing variants, acceptance gates, split policy."""
from __future__ import annotations

from typing import Annotated
from typing import Literal

from pydantic import Field
from pydantic import ValidationInfo
from pydantic import field_validator
from pydantic import model_validator

from specs.v1alpha1.common import ByteSize
from specs.v1alpha1.common import Document
from specs.v1alpha1.common import Name
from specs.v1alpha1.common import StrictModel
from specs.v1alpha1.dataset import Seed

ENTRY_POINT_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class Architecture(StrictModel):
    """A preset (mlp, cnn1d, cnn2d, dscnn, kws-dscnn) or a user's `module:function` returning a Keras model.

    `kws-dscnn` is MLPerf Tiny's keyword-spotting DS-CNN: a 10x4 convolution of stride 2 with units[0]
    filters, one depthwise-separable block (kernelSize depthwise, 1x1 pointwise) per further units entry,
    average pooling and a dense layer; the reference is units [64, 64, 64, 64, 64] on 49x10 MFCCs."""

    preset: Literal["mlp", "cnn1d", "cnn2d", "dscnn", "kws-dscnn"] | None = None
    entryPoint: Annotated[str, Field(pattern=ENTRY_POINT_PATTERN)] | None = None
    units: list[Annotated[int, Field(gt=0, le=65536)]] = Field(
        default_factory=lambda: [32, 32], max_length=64,
        description="Hidden units (mlp) or filters per block (cnn1d, cnn2d, dscnn).")
    kernelSize: int = Field(default=3, gt=0, le=64)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Architecture:
        if (self.preset is None) == (self.entryPoint is None):
            raise ValueError("set exactly one of 'preset' and 'entryPoint'")
        return self


class EarlyStopping(StrictModel):
    monitor: Literal["val_loss", "val_accuracy", "val_mae"] = "val_loss"
    patience: int = Field(default=5, gt=0, le=10_000)


class Training(StrictModel):
    epochs: int = Field(gt=0, le=100_000)
    batchSize: int = Field(default=32, gt=0, le=65536)
    learningRate: float = Field(default=1e-3, gt=0.0, le=10.0)
    optimizer: Literal["adam", "sgd", "rmsprop"] = "adam"
    seed: Seed = 0
    earlyStopping: EarlyStopping | None = None


class Pruning(StrictModel):
    sparsity: float = Field(gt=0.0, lt=1.0, description="Target fraction of zero weights.")
    epochs: int = Field(default=2, gt=0, le=10_000, description="Fine-tuning epochs while pruning.")


class Clustering(StrictModel):
    clusters: int = Field(ge=2, le=256)
    epochs: int = Field(default=1, ge=0, le=10_000, description="Fine-tuning epochs after clustering.")


class LutCompression(StrictModel):
    bits: int = Field(ge=2, le=7, description="Index width: each output channel of a weight tensor holds at most "
                                              "2^bits values, stored as bits-wide indices into a per-channel table.")


class Compression(StrictModel):
    """On-device weight compression, decoded by TFLM's DECODE operator at run time (TFLM boards only)."""

    lut: LutCompression


class Variant(StrictModel):
    """One squeezed form of the model; options combine (prune, then cluster, then QAT, then convert)."""

    name: Name
    quantization: Literal["int8", "float16", "dynamic", "none"] = "int8"
    pruning: Pruning | None = None
    clustering: Clustering | None = None
    qat: bool = Field(default=False, description="Quantization-aware training before int8 conversion.")
    qatEpochs: int = Field(default=2, gt=0, le=10_000)
    compression: Compression | None = None  # declared last: its check reads the fields above

    @field_validator("compression")
    @classmethod
    def _lut_needs_clustered_int8(cls, compression: Compression | None, info: ValidationInfo) -> Compression | None:
        # A LUT holds the distinct values of a channel: only clustering makes them few, and only int8
        # weights are what TFLM's int8 kernels read after decoding.
        if compression is None or "clustering" not in info.data or "quantization" not in info.data:
            return compression  # an earlier field failed and is reported on its own
        bits, clustering = compression.lut.bits, info.data["clustering"]
        if info.data["quantization"] != "int8":
            raise ValueError(f"compression.lut needs quantization: int8 (got {info.data['quantization']})")
        if clustering is None:
            raise ValueError(f"compression.lut needs clustering with at most {2 ** bits} clusters "
                             f"(2^{bits}): unclustered weights have up to 256 values per channel")
        if clustering.clusters > 2 ** bits:
            needed = (clustering.clusters - 1).bit_length()
            fix = f"raise bits to {needed} or " if needed <= 7 else ""
            raise ValueError(f"compression.lut with {bits} bits holds at most {2 ** bits} values per channel, "
                             f"but clustering has {clustering.clusters} clusters: {fix}lower clusters to {2 ** bits}")
        return compression

    @model_validator(mode="after")
    def _qat_needs_int8(self) -> Variant:
        if self.qat and self.quantization != "int8":
            raise ValueError("qat: true needs quantization: int8")
        return self


class Gates(StrictModel):
    """A variant that fails any gate is marked failed and is never deployed."""

    minAccuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    maxAccuracyDrop: float | None = Field(default=None, ge=0.0, le=1.0,
                                          description="Largest allowed drop vs the float model (0.01 = 1 point).")
    maxMAE: float | None = Field(default=None, ge=0.0)
    maxSize: ByteSize | None = None
    maxArena: ByteSize | None = None


class SplitPolicy(StrictModel):
    policy: Literal["never", "auto", "at"] = "auto"
    at: str | None = Field(default=None, min_length=1, max_length=255, description="Layer name for policy 'at'.")
    objective: Literal["latency", "energy"] = "latency"
    firmwareReserve: ByteSize = Field(default=65536, description="RAM and flash kept for the firmware itself.")

    @model_validator(mode="after")
    def _at_iff_policy_at(self) -> SplitPolicy:
        if (self.policy == "at") != (self.at is not None):
            raise ValueError("'at' is required with policy: at, and only then")
        return self


class ModelSpec(StrictModel):
    dataset: Name
    architecture: Architecture
    training: Training
    variants: list[Variant] = Field(default_factory=lambda: [Variant(name="int8")], min_length=1, max_length=32)
    gates: Gates = Field(default_factory=Gates)
    split: SplitPolicy = Field(default_factory=SplitPolicy)

    @model_validator(mode="after")
    def _unique_variant_names(self) -> ModelSpec:
        seen: set[str] = set()
        for variant in self.variants:
            if variant.name in seen:
                raise ValueError(f"variant name '{variant.name}' is used twice")
            seen.add(variant.name)
        return self


class Model(Document):
    kind: Literal["Model"]
    spec: ModelSpec
