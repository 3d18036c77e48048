"""Pull requests: `origami plan --server URL` plans a checkout against the running controller's state
(what it has built, which devices run what) exactly as `--state-dir` does on the controller's own
directory; `-o markdown` is the comment; and the example workflow's steps, run as GitHub runs them
(bash, `set -o pipefail`), post that comment to a stand-in for the forge's API."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import git
import pytest
import yaml

from controller.cli.main import main
from controller.loading import load_repository
from controller.planning.markdown import cell
from controller.planning.plan import plan_repository
from controller.reconciler.wiring import artifact_dir
from controller.state import ObjectStatus
from controller.state import StateStore
from controller.store import ArtifactStore
from controller.store import StageCache
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from tests.conftest import EXAMPLES
from tests.conftest import ROOT
from tests.forge import Forge

BOUND_SECONDS = 120


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A checkout of a spec repository (specs in `specs/`) whose model changed since the controller
    applied it; the controller's state directory (dataset snapshot built, 5 Linux boards and 2 MCUs
    known) and its API."""
    tmp = tmp_path_factory.mktemp("pr-plan")
    checkout = tmp / "checkout"
    shutil.copytree(EXAMPLES / "digits-mixed", checkout / "specs")
    applied = plan_repository(load_repository(checkout / "specs")).graph
    text = (checkout / "specs" / "model.yaml").read_text()
    (checkout / "specs" / "model.yaml").write_text(text.replace("epochs: 30", "epochs: 40"))
    repo = git.Repo.init(checkout, initial_branch="main")
    repo.index.add(["specs"])
    repo.index.commit("a pull request")
    state = tmp / "state"
    store = StateStore(state / "origami-state.db")
    artifacts = ArtifactStore(artifact_dir(state))
    cache = StageCache(artifacts)
    for name, key in applied.datasets.items():
        store.put_object(ObjectStatus("Dataset", name, "c1", key))
        cache.put("snapshot", key, {"snapshot": artifacts.put_bytes(b"snapshot")})
    for name, keys in applied.models.items():
        store.put_object(ObjectStatus("Model", name, "c1", keys.cards))
    for name, fleet in applied.fleets.items():
        store.put_object(ObjectStatus("Fleet", name, "c1", fleet.version, detail={"strategy_key": fleet.strategy}))
    for i, board in enumerate(["rpi4"] * 3 + ["jetson-nano"] * 2 + ["esp32s3"] * 2):
        store.observe_device(f"dev-{i}", board=board, hello={"deviceId": f"dev-{i}"})
    tokens, token = ensure_operator_token(state)
    with DashboardServer(create_app(store, artifacts, tokens=tokens), "127.0.0.1", 0) as server:
        yield checkout, state, server, token


def _plan(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(["plan", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_plan_against_the_server_is_the_plan_against_its_state_dir(world, capsys, fmt):
    checkout, state, server, _ = world
    remote = _plan(capsys, str(checkout / "specs"), "--server", server.url, "-o", fmt)
    assert remote == _plan(capsys, str(checkout / "specs"), "--state-dir", str(state), "-o", fmt)
    if fmt == "json":
        summary = json.loads(remote)["summary"]
        assert summary["snapshot"] == 0 and summary["train"] == 1  # the dataset is built; the model changed


def test_the_markdown_plan_is_a_comment_with_a_summary_and_each_fleets_devices(world, capsys):
    checkout, _, server, _ = world
    md = _plan(capsys, str(checkout / "specs"), "--server", server.url, "-o", "markdown")
    assert md.startswith("<!-- origami-plan -->\n### Origami plan")
    assert f"Compared with the controller at {server.url}." in md
    assert "| train | 1 |" in md and "| snapshot |" not in md
    assert "| digits\\-linux |" not in md  # '-' is not escaped: only what Markdown reads as syntax
    linux = next(line for line in md.splitlines() if line.startswith("| digits-linux |"))
    assert "| rollout (changed) | 5 | 5 | 2 jetson-nano, 3 rpi4 |" in linux
    assert "<details><summary>All" in md


def test_names_from_a_pull_request_cannot_forge_markdown():
    # Markdown shows `\\x0a` as the visible escape `\x0a`: no new row
    assert cell("a|b<img src=x>@team\n`x`") == r"a\|b\<img src=x\>\@team\\x0a\`x\`"


def _step(name: str) -> str:
    workflow = yaml.safe_load((EXAMPLES / "ci" / "origami.yml").read_text())
    return next(s["run"] for s in workflow["jobs"]["validate-and-plan"]["steps"] if s.get("name") == name)


def _run_step(name: str, checkout, tmp_path, **env) -> subprocess.CompletedProcess:
    """One step of the example workflow as the runner runs it: bash in the checkout, `origami` on PATH."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "origami").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m controller.cli.main "$@"\n')
    (shim / "origami").chmod(0o755)
    summary = tmp_path / "summary.md"
    return subprocess.run(["bash", "--noprofile", "--norc", "-e", "-c", _step(name)], cwd=checkout,
                          capture_output=True, text=True, timeout=BOUND_SECONDS,
                          env={"PATH": f"{shim}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SPECS": "specs",
                               "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(checkout),
                               "HOME": str(tmp_path), **env})


def test_the_workflow_posts_the_plan_as_a_pull_request_comment(world, tmp_path):
    checkout, _, server, token = world
    with Forge() as forge:
        done = _run_step("Plan", checkout, tmp_path, ORIGAMI_SERVER=server.url, ORIGAMI_TOKEN=token,
                         GITHUB_TOKEN="gh-token", GITHUB_API_URL=forge.url, GITHUB_REPOSITORY="acme/specs",
                         PR_NUMBER="7")
    assert done.returncode == 0, done.stderr
    [comment] = forge.posted("/repos/acme/specs/issues/7/comments")
    assert comment.headers["authorization"] == "Bearer gh-token"
    assert comment.body["body"].startswith("<!-- origami-plan -->\n### Origami plan")
    assert "| digits-linux |" in comment.body["body"]
    assert comment.body["body"] in (tmp_path / "summary.md").read_text()


def test_a_failing_plan_fails_the_step_and_posts_nothing(world, tmp_path):
    checkout, _, _, _ = world
    with Forge() as forge:
        done = _run_step("Plan", checkout, tmp_path, ORIGAMI_SERVER="http://127.0.0.1:9", GITHUB_TOKEN="t",
                         GITHUB_API_URL=forge.url, GITHUB_REPOSITORY="acme/specs", PR_NUMBER="7")
    assert done.returncode != 0 and "cannot reach the controller" in done.stderr
    assert forge.requests == []


def test_validate_annotations_name_files_from_the_repository_root(world, tmp_path):
    checkout, _, _, _ = world
    broken = checkout / "specs" / "model.yaml"
    text = broken.read_text()
    try:
        broken.write_text(text.replace("epochs: 40", "epochs: -1"))
        done = _run_step("Validate", checkout, tmp_path)
    finally:
        broken.write_text(text)
    assert done.returncode == 1
    assert "::error file=specs/model.yaml,line=16,col=13," in done.stdout, done.stdout
    for line in done.stdout.splitlines():  # every annotation names a file of the checkout
        assert os.path.exists(checkout / line.split("file=")[1].split(",")[0])
