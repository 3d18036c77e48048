"""origami/v1alpha1: the spec kinds and their shared types."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from specs.v1alpha1.common import (
    API_VERSION,
    ByteSize,
    Document,
    ObjectMeta,
    StrictModel,
)
from specs.v1alpha1.dataset import Dataset, DatasetSpec
from specs.v1alpha1.device_profile import DeviceProfile, DeviceProfileSpec
from specs.v1alpha1.fleet import Fleet, FleetSpec
from specs.v1alpha1.model import Model, ModelSpec

KINDS: dict[str, type[Document]] = {
    "Dataset": Dataset,
    "Model": Model,
    "Fleet": Fleet,
    "DeviceProfile": DeviceProfile,
}

AnyDocument = Annotated[Dataset | Model | Fleet | DeviceProfile, Field(discriminator="kind")]
ANY_DOCUMENT = TypeAdapter(AnyDocument)

__all__ = [
    "API_VERSION", "ANY_DOCUMENT", "AnyDocument", "ByteSize", "Dataset", "DatasetSpec", "DeviceProfile",
    "DeviceProfileSpec", "Document", "Fleet", "FleetSpec", "KINDS", "Model", "ModelSpec", "ObjectMeta",
    "StrictModel",
]
