"""The tiny sine specs the reconciler's end-to-end tests commit to real git repositories."""
from __future__ import annotations

from pathlib import Path

import git

SINE_DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: sine}
spec:
  task: regression
  sources: [{type: generated, generator: sine, samples: 300, seed: 1}]
  preprocessing: {normalize: {method: none}}
"""



def classification_dataset(name: str, source: str, split: str, *, extra: str = "") -> str:
    """A classification Dataset with one source (a YAML flow mapping) and a split."""
    return (f"apiVersion: origami/v1alpha1\nkind: Dataset\nmetadata: {{name: {name}}}\nspec:\n"
            f"  task: classification\n  sources: [{source}]\n{extra}  split: {split}\n")


def model_yaml(name: str, dataset: str, architecture: str, training: str, *, extra: str = "") -> str:
    """A Model document with one int8 variant; `architecture` and `training` are YAML flow mappings,
    `extra` more spec lines (e.g. "  gates: {minAccuracy: 0.5}\n")."""
    return (f"apiVersion: origami/v1alpha1\nkind: Model\nmetadata: {{name: {name}}}\nspec:\n  dataset: {dataset}\n"
            f"  architecture: {architecture}\n  training: {training}\n"
            f"  variants: [{{name: int8, quantization: int8}}]\n{extra}")


SINE_MODEL = model_yaml("sine", "sine", "{preset: mlp, units: [8]}", "{epochs: 2, seed: 1}")


class NoDevices:
    """The loop's DeviceLink where no device exists: nothing reports, and nothing may be sent."""

    def poll(self) -> list:
        return []

    def set_desired(self, device_id, desired) -> None:
        raise AssertionError("nothing may be sent without devices")

    def settle(self) -> None:
        pass

    def on_activity(self, callback) -> None:
        pass


def repo_code_flags() -> list[str]:
    """The CLI flags that let a build run repository code here: in the sandbox where the host has
    user namespaces, else explicitly unsandboxed (a CI container may forbid namespaces)."""
    from controller.reconciler.sandbox import namespaces_unavailable

    return ["--allow-repo-code"] if namespaces_unavailable() is None else ["--allow-unsandboxed-repo-code"]


def fleet_yaml(name: str, model: str, selector: str, rollout: str) -> str:
    """A Fleet document; `selector` and `rollout` are YAML flow mappings, e.g. "{boards: [rpi4]}"."""
    return (f"apiVersion: origami/v1alpha1\nkind: Fleet\nmetadata: {{name: {name}}}\nspec:\n  model: {model}\n"
            f"  selector: {selector}\n  rollout: {rollout}\n")


def commit(repo: git.Repo, files: dict[str, str], message: str) -> str:
    """Write `files` into the work tree, stage and commit them; the new commit's sha."""
    for name, text in files.items():
        Path(repo.working_dir, name).parent.mkdir(parents=True, exist_ok=True)
        Path(repo.working_dir, name).write_text(text)
    repo.index.add(list(files))
    return repo.index.commit(message).hexsha
