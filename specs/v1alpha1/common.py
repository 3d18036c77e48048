"""Shared building blocks of every spec kind: strict base model, metadata, byte sizes."""
from __future__ import annotations

import re
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import PlainSerializer
from pydantic import WithJsonSchema

from specs.v1alpha1.field_docs import document_schema
from specs.v1alpha1.field_docs import human_title

API_VERSION = "origami/v1alpha1"

# DNS-label-like names, as in Kubernetes: they end up in topics, file names and URLs.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class StrictModel(BaseModel):
    """Every spec object: unknown fields are errors, camelCase in YAML. Its JSON Schema has human
    titles and, for every property, a description and an example (`field_docs`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True,
                              field_title_generator=lambda name, _info: human_title(name),
                              json_schema_extra=document_schema)


_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_byte_size(value: Any) -> Any:
    """Accept 262144, "256KiB", "1 MB"; leave anything else for pydantic to reject."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 262144 or '256KiB', not a boolean")
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"'{value}' is not a size; use bytes or a unit: B, kB, KiB, MB, MiB, GB, GiB")
        number = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if number != int(number):
            raise ValueError(f"'{value}' is not a whole number of bytes")
        return int(number)
    return value


ByteSize = Annotated[
    int,
    BeforeValidator(parse_byte_size),
    Field(gt=0, le=2**50),
    PlainSerializer(int),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKmMgG]i?[bB]?|[bB])?\s*$"},
            ],
            "description": "Bytes, as an integer or with a unit (B, kB, KiB, MB, MiB, GB, GiB).",
        }
    ),
]

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=63)]
LabelValue = Annotated[str, Field(max_length=63)]


class ObjectMeta(StrictModel):
    name: Name
    labels: dict[Annotated[str, Field(max_length=253)], LabelValue] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=4096)


class Document(StrictModel):
    """Header shared by every kind; subclasses pin `kind` and type `spec`."""

    apiVersion: Literal["origami/v1alpha1"]
    metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.metadata.name}"  # type: ignore[attr-defined]
