"""origami/v1alpha1: the spec kinds and their shared types."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic import TypeAdapter

from specs.v1alpha1.common import API_VERSION
from specs.v1alpha1.common import ByteSize
from specs.v1alpha1.common import Document
from specs.v1alpha1.common import ObjectMeta
from specs.v1alpha1.common import StrictModel
from specs.v1alpha1.dataset import Dataset
from specs.v1alpha1.dataset import DatasetSpec
from specs.v1alpha1.device_profile import DeviceProfile
from specs.v1alpha1.device_profile import DeviceProfileSpec
from specs.v1alpha1.fleet import Fleet
from specs.v1alpha1.fleet import FleetSpec
from specs.v1alpha1.model import Model
from specs.v1alpha1.model import ModelSpec

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
