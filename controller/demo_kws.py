"""`make demo-kws`: keyword spotting (issue 18) through the whole lifecycle on the embedded defaults.

1. examples/keyword-spotting is copied into a real git repository in a temp directory, with fewer
   clips and epochs than the example so that it finishes in a few minutes on two cores (it says so);
2. a virtual fleet starts: Linux boards (rpi4) running the device agent and microcontrollers
   (nano33ble, pico) with real TFLM behind a gateway;
3. the controller reconciles the repository: espeak-ng speech -> MFCCs -> the MLPerf Tiny DS-CNN ->
   int8, measured on TFLM, gated, and rolled out canary-first until every device reports it;
4. the int8 model card's input section (what a device must do to a microphone's second of audio) and
   the status table.

Not here yet (issue 18, part 2): virtual microphones streaming windows through the collector,
`origami samples label`, the retrain they trigger, and the emulated boards' own accuracy.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import git
import yaml

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from controller.cli.main import main
from controller.demo import _Controller
from controller.demo import _show_releases
from controller.demo import _wait_converged

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "keyword-spotting"
FLEET = {"rpi4": 3, "nano33ble": 2, "pico": 2}
DEMO_UTTERANCES, DEMO_EPOCHS = 100, 15


def _spec_repository(work: Path) -> tuple[Path, str]:
    """The example in a fresh git repository, smaller for the demo (no pruned variant); its first commit."""
    specs = work / "specs"
    shutil.copytree(EXAMPLE, specs)
    dataset = yaml.safe_load((specs / "dataset.yaml").read_text())
    dataset["spec"]["sources"][0]["utterancesPerWord"] = DEMO_UTTERANCES
    (specs / "dataset.yaml").write_text(yaml.safe_dump(dataset, sort_keys=False))
    model = yaml.safe_load((specs / "model.yaml").read_text())
    model["spec"]["training"]["epochs"] = DEMO_EPOCHS
    model["spec"]["variants"] = [v for v in model["spec"]["variants"] if v["name"] in ("float32", "int8")]
    (specs / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    repo = git.Repo.init(specs, initial_branch="main")
    repo.git.add(A=True)
    return specs, repo.index.commit(f"keyword-spotting example ({DEMO_UTTERANCES} clips per class, "
                                    f"{DEMO_EPOCHS} epochs for the demo)").hexsha


def _show_card(controller: _Controller, specs: Path) -> None:
    """The int8 card's input section, read back from the stage cache the build worker filled."""
    from controller.loading import load_repository
    from controller.pipeline.build import built_model
    from controller.planning.keys import model_keys

    repo = load_repository(specs).require_valid()
    build = built_model(repo, "kws-dscnn", model_keys(repo, "kws-dscnn"), controller.builder.store,
                        controller.builder.cache)
    if build is None:
        return
    int8 = build.variant("int8")
    print(f"\n== kws-dscnn/int8: TFLM accuracy {int8.accuracy:.4f} on {build.dataset} (held-out split), "
          f"{int8.size_bytes:,} B, arena {int8.arena_bytes:,} B", flush=True)
    card = Path(int8.cards["card.md"]).read_text()
    print(card[card.index("## Input"):card.index("![")].strip(), flush=True)


def run() -> int:
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    if shutil.which("espeak-ng") is None:
        print("demo-kws: espeak-ng is not installed (apt-get install espeak-ng; scripts/system-packages.sh)",
              file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="origami-demo-kws-"))
    specs, first = _spec_repository(work)
    print(f"demo-kws: spec repository {specs} (git, branch main); state in {work / 'state'}")
    print(f"demo-kws: {DEMO_UTTERANCES} clips per class and {DEMO_EPOCHS} epochs instead of the example's, "
          "to stay within a few minutes")
    if main(["validate", str(specs)]) != 0:
        return 1
    controller = _Controller(work, specs, FLEET)
    try:
        if not _wait_converged(controller.store, controller.fleets, first,
                               "Reconcile: synthesise speech, train, squeeze, measure, roll out"):
            return 1
        _show_releases(controller.store, controller.fleets)
        _show_card(controller, specs)
    finally:
        controller.stop()
    print("\n== Status table\n$ origami status", flush=True)
    return main(["status", "--state-dir", str(controller.state)])


if __name__ == "__main__":
    sys.exit(run())
