"""Running the pipeline twice trains and converts nothing the second time; a squeeze-only change re-squeezes."""
from __future__ import annotations

import json

import pytest

from controller.pipeline.build import ModelBuild
from controller.pipeline.build import build_model
from controller.planning.keys import model_keys
from controller.planning.plan import plan_repository
from controller.store import ArtifactStore
from controller.store import StageCache
from tests.spec_repos import sine_repo


@pytest.fixture(scope="module")
def first_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("sine")
    repo = sine_repo(root / "specs")
    store = ArtifactStore(root / "store" / "artifacts")
    lines: list[str] = []
    build = build_model(repo, "sine", model_keys(repo, "sine"), store, StageCache(store), progress=lines.append)
    return root, repo, store, build, lines


def test_first_build_runs_every_stage_and_measures_each_variant(first_build):
    _, _, store, build, lines = first_build
    assert build.executions == {"dataset": 1, "train": 1, "squeeze": 2, "cards": 1}
    assert any("epoch 1/8" in line for line in lines)
    int8 = build.variant("int8")
    assert store.exists(int8.tflite_digest) and int8.size_bytes == len(store.read_bytes(int8.tflite_digest))
    assert int8.arena_bytes and int8.tflm and int8.mae is not None and int8.mae == int8.tflm["mae"]
    assert "FULLY_CONNECTED" in int8.operators and int8.macs == 16 + 16 * 16 + 16
    assert {"card.json", "card.md", "training_curves.png", "size_vs_accuracy.png"} <= set(int8.cards)
    stored = json.loads(json.dumps(build.to_dict()))  # the reconciler stores it as JSON
    assert ModelBuild.from_dict(stored).variant("int8") == int8


def test_second_build_trains_and_converts_nothing(first_build):
    _, repo, store, build, _ = first_build
    cache = StageCache(store)  # a fresh process: only the records on disk count
    keys = model_keys(repo, "sine")
    assert all(cache.is_cached(key) for key in keys.all().values())
    assert not plan_repository(repo, is_built=cache.is_cached).builds("sine")  # nothing to build
    again = build_model(repo, "sine", keys, store, cache)
    assert cache.executions == {}  # no dataset, training, conversion or card stage ran
    assert again.model_digest == build.model_digest
    assert [v.tflite_digest for v in again.variants] == [v.tflite_digest for v in build.variants]
    assert all(v.cached for v in again.variants)


def test_changing_only_a_variant_resqueezes_without_retraining(first_build):
    root, _, store, build, _ = first_build
    repo = sine_repo(root / "specs", variants="    - {name: float32, quantization: none}\n"
                                              "    - {name: int8}\n    - {name: dyn, quantization: dynamic}")
    cache = StageCache(store)
    work = {a.target for a in plan_repository(repo, is_built=cache.is_cached).builds("sine")}
    assert work == {"Model/sine#dyn", "Model/sine"}  # the new variant, and the gates/cards over it
    changed = build_model(repo, "sine", model_keys(repo, "sine"), store, cache)
    assert cache.executions["train"] == 0 and cache.executions["dataset"] == 0
    assert cache.executions["squeeze"] == 1  # only the new variant
    assert changed.variant("int8").tflite_digest == build.variant("int8").tflite_digest


def test_artifacts_cli_lists_and_shows_what_the_build_stored(first_build, capsys):
    from controller.cli.main import main

    root, _, store, build, _ = first_build
    assert main(["artifacts", "ls", "--kind", "tflite", "--store", str(store.root)]) == 0
    listing = capsys.readouterr().out
    assert build.variant("int8").tflite_digest[:12] in listing and "keras-model" not in listing
    assert main(["artifacts", "show", build.model_digest[:10], "--store", str(store.root), "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["digest"] == build.model_digest and shown["metadata"]["kind"] == "keras-model"
    assert shown["metadata"]["dataset_snapshot"] == build.dataset_digest  # which inputs produced it
