"""A variant that fails its acceptance gates is reported failed, with the figures that failed."""
from __future__ import annotations

from controller.cli.main import main
from controller.pipeline.build import build_model
from controller.pipeline.gates import evaluate_gates
from controller.planning.keys import model_keys
from controller.reconciler.wiring import artifact_dir
from controller.store import ArtifactStore
from controller.store import StageCache
from specs.v1alpha1.model import Gates
from tests.spec_repos import sine_repo

FIGURES = {"size_bytes": 3000, "arena_bytes": 2000, "litert": {"accuracy": 0.95}, "tflm": {"accuracy": 0.93}}


def test_every_failing_gate_is_listed_with_its_figure():
    gates = Gates(minAccuracy=0.95, maxAccuracyDrop=0.01, maxSize=2048, maxArena=4096)
    result = evaluate_gates(gates, "classification", FIGURES, {"accuracy": 0.96})
    assert not result.passed
    assert result.failing_figures == ["accuracy", "accuracy_drop", "size_bytes"]  # TFLM accuracy is what counts
    assert result.failures[2].value == 3000 and result.failures[2].limit == 2048


def test_a_variant_that_does_not_run_on_tflm_fails_max_arena():
    figures = {**FIGURES, "tflm": None, "arena_bytes": None}
    result = evaluate_gates(Gates(maxArena=8192), "classification", figures, {"accuracy": 0.95})
    assert result.failing_figures == ["arena_bytes"] and "does not run on TFLM" in result.failures[0].message


def test_build_reports_the_failing_variant_and_figure(tmp_path, capsys):
    repo = sine_repo(tmp_path / "specs", gates="    maxMAE: 5.0\n    maxSize: 3200", epochs=2)
    store = ArtifactStore(artifact_dir(tmp_path / "state"))  # the store `origami build --state-dir` uses
    build = build_model(repo, "sine", model_keys(repo, "sine"), store, StageCache(store))
    sizes = {v.name: v.size_bytes for v in build.variants}
    for v in build.variants:  # the gate is 3200 B; which variant passes depends only on its measured size
        assert v.passed == (sizes[v.name] <= 3200)
        if not v.passed:
            assert v.gate["failing_figures"] == ["size_bytes"]
            assert f"size {v.size_bytes} B > maxSize 3200 B" in v.gate["failures"][0]["message"]
    assert not all(v.passed for v in build.variants)
    # The CLI shows it and exits non-zero (the stages are cached now, so this is fast).
    code = main(["build", str(tmp_path / "specs"), "--state-dir", str(tmp_path / "state"), "-q"])
    out = capsys.readouterr().out
    assert code == 3 and "FAILED: size_bytes" in out and "stages run: none (all cached)" in out
