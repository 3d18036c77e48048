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


def properties(schema: dict):
    """(where, name, property) of every property of a schema and of its $defs."""
    for where, sub in [("", schema), *schema.get("$defs", {}).items()]:
        for name, prop in sub.get("properties", {}).items():
            yield where, name, prop


def test_every_property_has_a_description_an_example_and_a_human_title():
    for file, schema in schemas.generate().items():
        for where, name, prop in properties(schema):
            assert prop.get("description"), f"{file} {where}.{name} has no description"
            assert prop.get("examples"), f"{file} {where}.{name} has no example"
            title = prop.get("title") or ""
            assert " " in title or title.lower() == name.lower(), f"{file} {where}.{name}: title {title!r}"
    training = schemas.generate()["model.json"]["$defs"]["Training"]["properties"]
    assert training["batchSize"]["title"] == "Batch size" and training["learningRate"]["title"] == "Learning rate"


def test_examples_validate_against_their_own_field():
    """An example an editor completes must be accepted: each one is checked by the model's validation."""
    from typing import Annotated

    from pydantic import TypeAdapter

    from specs.v1alpha1 import KINDS
    from specs.v1alpha1.field_docs import FIELD_DOCS
    from specs.v1alpha1.field_docs import field_doc

    models, seen = list(KINDS.values()), set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            doc = field_doc(model, name)
            assert doc is not None, f"{model.__name__}.{name} is missing from FIELD_DOCS"
            field_type = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            TypeAdapter(field_type).validate_python(doc[1])  # raises when the example is wrong
            models += [t for t in _models_in(info.annotation)]
    assert len(seen) > 20 and len(FIELD_DOCS) > 100


def _models_in(annotation):
    import typing

    for arg in typing.get_args(annotation):
        yield from _models_in(arg)
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        yield annotation


def test_modelines_point_at_the_written_schemas_and_survive_a_copy(tmp_path):
    import shutil

    from controller.cli.main import main

    repo = tmp_path / "specs"
    shutil.copytree(EXAMPLES / "sine-mcu", repo / "sine")
    (repo / "sine" / "model.yaml").write_text(
        "\n".join((repo / "sine" / "model.yaml").read_text().splitlines()[1:]) + "\n")  # no modeline yet
    assert main(["schema", "--write", str(repo / "schemas"), "--modelines", str(repo)]) == 0
    for name, kind in (("model.yaml", "model"), ("dataset.yaml", "dataset"), ("fleet.yaml", "fleet")):
        first = (repo / "sine" / name).read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../schemas/{kind}.json", first
    copied = tmp_path / "elsewhere" / "copy"
    shutil.copytree(repo, copied)
    first = (copied / "sine" / "fleet.yaml").read_text().splitlines()[0]
    assert (copied / "sine" / first.split("=", 1)[1]).resolve().is_file()
    assert main(["validate", str(copied / "sine")]) == 0  # the modeline is a comment: still valid specs
