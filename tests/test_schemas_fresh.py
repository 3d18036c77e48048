"""The committed JSON Schemas are exactly what specs/ generates, and examples point at them."""
from __future__ import annotations

import json
import re

from controller import schemas
from tests.conftest import EXAMPLES
from tests.conftest import ROOT


def test_committed_schemas_are_fresh():
    stale = schemas.stale_files(ROOT / "schemas")
    assert not stale, f"stale schemas {stale}: run `origami schema --write schemas/`"


def test_examples_name_an_existing_schema():
    for path in EXAMPLES.rglob("*.yaml"):
        if "invalid" in path.parts or "ci" in path.parts:
            continue
        first = path.read_text().splitlines()[0]
        match = re.match(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, f"{path} lacks a $schema line"
        assert (path.parent / match.group(1)).resolve().is_file(), path


def test_schema_rejects_what_the_model_rejects():
    schema = json.loads((ROOT / "schemas" / "model.json").read_text())
    training = schema["$defs"]["Training"]
    assert training["additionalProperties"] is False
    assert training["properties"]["epochs"]["exclusiveMinimum"] == 0
