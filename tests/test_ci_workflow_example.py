"""The example CI workflow for spec repositories is valid YAML that runs validate then plan."""
from __future__ import annotations

import yaml

from tests.conftest import EXAMPLES


def test_workflow_validates_with_annotations_then_plans():
    workflow = yaml.safe_load((EXAMPLES / "ci" / "origami.yml").read_text())
    steps = workflow["jobs"]["validate-and-plan"]["steps"]
    runs = [s.get("run", "") for s in steps]
    validate = next(i for i, r in enumerate(runs) if "origami validate" in r)
    plan = next(i for i, r in enumerate(runs) if "origami plan" in r)
    assert "--format github" in runs[validate]
    assert validate < plan
