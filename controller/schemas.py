"""JSON Schemas of the spec kinds, generated from `specs/` (editors and CI validate with them)."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from specs.v1alpha1 import KINDS
from specs.v1alpha1 import AnyDocument

SCHEMA_BASE = "https://origami.dev/schemas/v1alpha1"


def generate() -> dict[str, dict]:
    """File name -> schema, for each kind and for 'any document'."""
    out: dict[str, dict] = {}
    for kind, model in KINDS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"{SCHEMA_BASE}/{kind.lower()}.json"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{kind.lower()}.json"] = schema
    anydoc = TypeAdapter(AnyDocument).json_schema(mode="validation")
    anydoc["$id"] = f"{SCHEMA_BASE}/any.json"
    anydoc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    anydoc["title"] = "Any Origami document"
    out["any.json"] = anydoc
    return out


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def stale_files(directory: Path) -> list[str]:
    """Schema files in `directory` that differ from what `generate` produces now."""
    return [name for name, schema in generate().items()
            if not (directory / name).is_file() or (directory / name).read_text() != render(schema)]


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate().items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written
