"""A merged spec runs code only when the controller was started with --allow-repo-code.

The attack: a Model's entryPoint names a module whose top level copies the controller's signing key.
Without consent the module is never imported; with consent it is imported only from a file inside
the repository (never through `sys.path`), and its failures are clear errors that echo nothing.
"""
from __future__ import annotations

import json
import sys

import pytest

from controller.pipeline.presets import keras_model
from controller.pipeline.presets import load_entry_point
from specs.errors import StageError
from specs.v1alpha1.model import Architecture
from tests.security.attacker import SECRET
from tests.security.attacker import assert_clean_refusal
from tests.security.attacker import origami
from tests.security.attacker import secret_beside
from tests.security.attacker import spec_repository

DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: d}
spec: {task: classification, sources: [{type: packaged, name: sklearn.digits}]}
"""
MODEL = """apiVersion: origami/v1alpha1
kind: Model
metadata: {name: custom}
spec:
  dataset: d
  architecture: {entryPoint: "%s"}
  training: {epochs: 1}
"""


def thief(tmp_path) -> str:
    """A module whose import copies the 'signing key' to a marker file: the proof it ran."""
    key = tmp_path / "state" / "keys" / "signing-key.pem"
    key.parent.mkdir(parents=True)
    key.write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    return (f"import shutil\nshutil.copy({str(key)!r}, {str(tmp_path / 'stolen.pem')!r})\n"
            "def tiny(input_shape, outputs, task):\n    return None\n")


def test_validate_says_the_model_needs_allow_repo_code_and_still_exits_0(tmp_path):
    clone = spec_repository(tmp_path, {"dataset.yaml": DATASET, "model.yaml": MODEL % "models.tiny:build",
                                       "models/tiny.py": "def build(input_shape, outputs, task):\n    pass\n"})
    notice = ("model.yaml:6:30: Model/custom: spec.architecture.entryPoint: notice: models.tiny:build runs code from "
              "the spec repository; the controller builds this Model only when started with --allow-repo-code")
    text = origami("validate", str(clone))
    assert text.returncode == 0 and notice in text.stdout.splitlines()
    github = origami("validate", "--format", "github", str(clone))
    assert github.returncode == 0 and "::notice file=model.yaml,line=6,col=30,title=Model/custom::" in github.stdout
    report = json.loads(origami("validate", "--format", "json", str(clone)).stdout)
    assert report["valid"] and [n["severity"] for n in report["notices"]] == ["notice"]


@pytest.mark.parametrize(("module", "why"), [
    ("missing.py", "module models has no file models.py or models/__init__.py next to the Model's spec file"),
    ("models.py", "module models defines no top-level 'build'"),
])
def test_validate_refuses_an_entry_point_whose_module_or_function_is_not_in_the_repository(tmp_path, module, why):
    clone = spec_repository(tmp_path, {"dataset.yaml": DATASET, "model.yaml": MODEL % "models:build",
                                       module: "def other(input_shape, outputs, task):\n    pass\n"})
    output = assert_clean_refusal(origami("validate", str(clone)), tmp_path)
    assert f"model.yaml:6:30: Model/custom: spec.architecture.entryPoint: {why}" in output.splitlines()


def test_validate_refuses_an_entry_point_module_that_is_a_symlink_leaving_the_repository(tmp_path):
    secret_beside(tmp_path)
    clone = spec_repository(tmp_path, {"dataset.yaml": DATASET, "model.yaml": MODEL % "steal:build"},
                            symlinks={"steal.py": "../outside/steal.py"})
    output = assert_clean_refusal(origami("validate", str(clone)), tmp_path)
    assert ("model.yaml:6:30: Model/custom: spec.architecture.entryPoint: module steal resolves outside the spec "
            "repository (through a symlink)") in output.splitlines()


def test_without_consent_the_module_is_never_imported_and_the_key_stays_put(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "thief.py").write_text(thief(tmp_path))
    with pytest.raises(StageError) as refused:
        load_entry_point("thief:tiny", repo)
    assert str(refused.value) == ("architecture.entryPoint thief:tiny: this Model runs code from the spec repository; "
                                  "start the controller with --allow-repo-code to build it")
    with pytest.raises(StageError, match="--allow-repo-code"):  # the build path gives no other way in
        keras_model(None, Architecture(entryPoint="thief:tiny"), (8,), "classification", 2, repo)
    assert not (tmp_path / "stolen.pem").exists()
    assert not any("thief" in name for name in sys.modules)


def test_with_consent_a_module_outside_the_repository_is_still_refused_unrun(tmp_path):
    (tmp_path / "thief.py").write_text(thief(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "linked.py").symlink_to(tmp_path / "thief.py")
    for entry_point in ("linked:tiny", "thief:tiny"):  # through a symlink; only on sys.path's cwd
        with pytest.raises(StageError, match="module (linked resolves outside|thief has no file)"):
            load_entry_point(entry_point, repo, allow_repo_code=True)
    assert not (tmp_path / "stolen.pem").exists()


def test_with_consent_the_module_is_loaded_from_its_file_and_shadows_nothing_installed(tmp_path):
    repo = tmp_path / "repo"
    (repo / "nets").mkdir(parents=True)
    (repo / "json.py").write_text("def build(input_shape, outputs, task):\n    return 'from the repository'\n")
    (repo / "nets" / "__init__.py").write_text("from .layers import build\n")  # a package imports its own
    (repo / "nets" / "layers.py").write_text("WIDTH = 7\ndef build(input_shape, outputs, task):\n    return WIDTH\n")
    build = load_entry_point("json:build", repo, allow_repo_code=True)
    assert build(input_shape=(1,), outputs=1, task="regression") == "from the repository"
    assert sys.modules["json"].__file__.endswith("/json/__init__.py")  # the standard library's, untouched
    assert str(repo) not in sys.path
    for entry_point in ("nets:build", "nets.layers:build"):
        assert load_entry_point(entry_point, repo, allow_repo_code=True)(input_shape=(1,), outputs=1,
                                                                         task="regression") == 7


@pytest.mark.parametrize(("source", "message"), [
    ("def build(shape):\n    pass\n",
     "the function must accept the keyword arguments input_shape, outputs, task"),
    (f"def build(input_shape, outputs, task):\n    raise RuntimeError({SECRET!r})\n",
     "the function raised RuntimeError at line 2"),
    (f"VALUE = {SECRET!r}\nraise KeyError(VALUE)\ndef build(input_shape, outputs, task):\n    pass\n",
     "importing mod raised KeyError at line 2"),
    ("import definitely_not_installed_pkg\n",
     "importing mod failed at line 1: no module named 'definitely_not_installed_pkg' is installed"),
    ("def build(input_shape, outputs, task:\n", "mod has a syntax error at line 1"),
])
def test_with_consent_a_failing_module_is_a_clear_error_that_echoes_nothing(tmp_path, source, message):
    (tmp_path / "mod.py").write_text(source)
    with pytest.raises(StageError) as refused:
        keras_model(None, Architecture(entryPoint="mod:build"), (8,), "classification", 2, tmp_path,
                    allow_repo_code=True)
    assert str(refused.value) == f"architecture.entryPoint mod:build: {message}"


@pytest.mark.ml
def test_with_consent_a_function_that_returns_no_keras_model_is_a_clear_error(keras, tmp_path):
    (tmp_path / "mod.py").write_text("def build(input_shape, outputs, task):\n    return [1, 2]\n")
    with pytest.raises(StageError, match="returned list, not a tf_keras Model"):
        keras_model(keras, Architecture(entryPoint="mod:build"), (8,), "classification", 2, tmp_path,
                    allow_repo_code=True)
