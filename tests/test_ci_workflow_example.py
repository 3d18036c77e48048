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


def test_every_step_fails_on_a_failing_pipe_and_installs_no_placeholder():
    workflow = yaml.safe_load((EXAMPLES / "ci" / "origami.yml").read_text())
    runs = [s["run"] for s in workflow["jobs"]["validate-and-plan"]["steps"] if "run" in s]
    assert all(r.lstrip().startswith("set -euo pipefail") for r in runs)
    install = next(r for r in runs if "pip install" in r)
    assert 'pip install "$ORIGAMI_PACKAGE"' in install and "git+" not in install
    assert "-o markdown" in next(r for r in runs if "origami plan" in r)
