"""The implicit gate of each target runtime, on a new user's 13-feature CSV: a variant TFLM cannot run
(a cnn1d on flat features converts to dynamic-shape RESHAPE; float16 weights) passed its spec's gates
and showed "n/a on TFLM"; now the build table, `origami build`'s exit code, the plan, the Model's status
and the bundle for a microcontroller all say it is not for TFLM boards, and why."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.loading import load_repository
from controller.pipeline.build import ModelBuild
from controller.planning.plan import plan_repository
from controller.reconciler.bundles import BundleMaker
from controller.reconciler.wiring import artifact_dir
from controller.reconciler.wiring import outcome_of
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache
from specs.errors import StageError
from specs.v1alpha1.status import VariantFigures
from tests.spec_repos import USER_FLEET
from tests.spec_repos import user_repo

VARIANTS = "    - {name: int8}\n    - {name: half, quantization: float16}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`origami build` of a cnn1d on flat features with an int8 and a float16 variant, for nano33ble and rpi4."""
    root = user_repo(tmp_path_factory.mktemp("wine"), architecture="{preset: cnn1d, units: [8]}", epochs=5,
                     variants=VARIANTS, gates="    minAccuracy: 0.3")
    (root / "fleet.yaml").write_text(USER_FLEET)
    state = root / "state"
    return root, state


def run_build(root, state, capsys, *extra) -> tuple[int, str, str]:
    code = main(["build", str(root), "--state-dir", str(state), "-q", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_variant_tflm_cannot_run_is_not_for_tflm_boards_and_the_build_says_why(built, capsys):
    root, state = built
    code, out, err = run_build(root, state, capsys)
    assert code == 3, out + err  # the fleet's nano33ble can take no variant: the runtime's gate fails the build
    assert [c.strip() for c in out.splitlines()[1].split("  ") if c.strip()][:4] == ["variant", "quant", "size B",
                                                                                     "gzip B"]
    assert "params (non-zero)" in out and "distinct/layer" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("int8 ", "half "))}
    assert rows["int8"].endswith("passed (not for TFLM)") and rows["half"].endswith("passed (not for TFLM)")
    assert ("int8: not eligible for TFLM boards: TFLM cannot run it: dynamic-shape operators (SHAPE, PACK, "
            "STRIDED_SLICE feeding RESHAPE); TFLM needs static shapes") in out
    assert "half: not eligible for TFLM boards: TFLM cannot run it: float16 weights (TFLM has no float16 kernels)" \
        in out
    assert ("origami build: Fleet/cellar: no variant of wine can go to its TFLM boards (nano33ble): int8: TFLM "
            "cannot run it: dynamic-shape operators") in err
    assert "samples per class (train/validation/test): 1 41/9/9, 2 49/11/11, 3 34/7/7" in out


def test_the_status_and_the_microcontroller_bundle_carry_the_reason(built, capsys):
    root, state = built
    run_build(root, state, capsys)  # cached: reads the build back
    code, out, _ = run_build(root, state, capsys, "-o", "json")
    build = json.loads(out)[0]
    assert build["variants"][0]["ineligible"]["tflm"].startswith("TFLM cannot run it: dynamic-shape operators")
    outcome = outcome_of(ModelBuild.from_dict(build))
    status = VariantFigures.model_validate(outcome.variants["half"])
    assert status.passed and status.ineligible["tflm"].startswith("TFLM cannot run it: float16 weights")
    repo = load_repository(root).require_valid()
    store = ArtifactStore(artifact_dir(state))
    with pytest.raises(StageError) as refused:
        BundleMaker(store, StageCache(store)).artifact_for(repo, "cellar", outcome, "nano33ble")
    assert str(refused.value).startswith("nano33ble: no variant can run on this TFLM board: half: TFLM cannot "
                                         "run it: float16 weights (TFLM has no float16 kernels); int8: TFLM cannot "
                                         "run it: dynamic-shape operators")
    linux = BundleMaker(store, StageCache(store)).artifact_for(repo, "cellar", outcome, "rpi4")
    assert linux.variant == "int8"  # LiteRT runs both: the Linux board still gets a model


def test_the_card_lists_the_class_order_and_the_samples_per_class(built, capsys):
    root, state = built
    _, out, _ = run_build(root, state, capsys, "-o", "json")
    card = Path(json.loads(out)[0]["variants"][0]["cards"]["card.md"]).read_text()
    assert "| class (output index) | train | validation | test |" in card
    assert "| 1 (0) | 41 | 9 | 9 |" in card and "| 3 (2) | 34 | 7 | 7 |" in card
    # What a device needs to feed the model and read it, from the measured variant.
    assert "- output index -> class: 0 = `1`, 1 = `2`, 2 = `3`" in card
    assert "- input normalisation (standard, per feature of the last axis): x = (raw - offset) / scale" in card
    assert "(13 values)" in card and "- input tensor: int8 [1, 13], scale " in card


def test_the_plan_says_before_building_that_a_float16_variant_is_not_for_tflm_boards(tmp_path):
    root = user_repo(tmp_path, variants="    - {name: half, quantization: float16}")
    (root / "fleet.yaml").write_text(USER_FLEET)
    text = plan_repository(load_repository(root).require_valid()).render_text()
    assert ("squeeze   Model/wine#half                          new  not for TFLM boards: microcontrollers take "
            "int8 variants only, this one is float16") in text
    assert "Fleet/cellar@nano33ble" in text and "no int8 variant: a TFLM board cannot take this model" in text
