"""`make demo-kws`: keyword spotting (issue 18) through the whole lifecycle, closed loop included.

1. examples/keyword-spotting is copied into a real git repository in a temp directory, with fewer
   clips and epochs than the example so that it finishes in a few minutes on two cores (it says so),
   and a `collected` source per fleet (the fleets' microphones) beside the generated speech;
2. a virtual fleet starts: Linux boards (rpi4) running the device agent and microcontrollers
   (nano33ble, pico) with real TFLM behind a gateway, and an emulated Nano 33 BLE Sense (the C
   device core and TFLM's DS-CNN kernels for its Cortex-M4F on QEMU, controller/demo_emulated.py,
   built while the model trains; said and skipped without the tools); the controller runs the
   sample collector;
3. the controller reconciles the repository: espeak-ng speech -> MFCCs -> the MLPerf Tiny DS-CNN ->
   int8, measured on TFLM, gated, and rolled out canary-first until every device reports it;
4. the closed loop: a commit asks both fleets for a recording session (Fleet.spec.collect); the
   microcontrollers' samplers stream int16 PCM in SAMPLES frames and the gateway, which follows the
   campaign for them, files the windows under its session, while
   someone in the room says "yes" (held-out espeak-ng utterances, another seed than the training
   set's); `origami samples label yes --session ...` labels the session, the collected snapshots
   change, the retrain policy retrains, and the new model rolls out to every board;
5. the status table.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import git
import yaml

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from controller.cli.main import main
from controller.demo import TIMEOUT_S
from controller.demo import _Controller
from controller.demo import _progress_line
from controller.demo import _show_emulated
from controller.demo import _show_releases
from controller.demo import _start_emulated
from controller.demo import _wait_converged

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "keyword-spotting"
FLEET = {"rpi4": 3, "nano33ble": 2, "pico": 2}
DEMO_UTTERANCES, DEMO_EPOCHS = 100, 15
SESSION, WORD = "demo-say-yes", "yes"
SECONDS, MCU_WINDOWS = 4, 2          # per Linux board (one window a second) and per microcontroller


def _spec_repository(work: Path) -> tuple[Path, str]:
    """The example in a fresh git repository, smaller for the demo (no pruned variant); its first commit."""
    specs = work / "specs"
    shutil.copytree(EXAMPLE, specs)
    dataset = yaml.safe_load((specs / "dataset.yaml").read_text())
    speech = dataset["spec"]["sources"][0]
    speech["utterancesPerWord"] = DEMO_UTTERANCES
    # The fleets' microphones: labelled windows from either fleet join the generated clips; one session
    # of every board is enough for a new snapshot (examples would ask for more: minNewSamples).
    dataset["spec"]["sources"] += [{"type": "collected", "fleet": fleet, "sensor": "microphone", "window": 16000,
                                    "labels": list(speech["words"])} for fleet in ("kws-linux", "kws-mcu")]
    dataset["spec"]["retrain"] = {"minNewSamples": 2}
    (specs / "dataset.yaml").write_text(yaml.safe_dump(dataset, sort_keys=False))
    model = yaml.safe_load((specs / "model.yaml").read_text())
    model["spec"]["training"]["epochs"] = DEMO_EPOCHS
    model["spec"]["variants"] = [v for v in model["spec"]["variants"] if v["name"] in ("float32", "int8")]
    (specs / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    repo = git.Repo.init(specs, initial_branch="main")
    repo.git.add(A=True)
    return specs, repo.index.commit(f"keyword-spotting example ({DEMO_UTTERANCES} clips per class, "
                                    f"{DEMO_EPOCHS} epochs for the demo)").hexsha


def _commit_session(specs: Path) -> str:
    """Both fleets asked for a recording session: a collect section in Fleet/kws-linux and Fleet/kws-mcu."""
    docs = list(yaml.safe_load_all((specs / "fleets.yaml").read_text()))
    seconds = {"kws-linux": SECONDS, "kws-mcu": MCU_WINDOWS}
    for doc in docs:
        if doc["metadata"]["name"] in seconds:
            doc["spec"]["collect"] = {"sensor": "microphone", "rateHz": 16000,
                                      "durationSeconds": seconds[doc["metadata"]["name"]], "session": SESSION}
    (specs / "fleets.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    repo = git.Repo(specs)
    repo.git.add(A=True)
    return repo.index.commit(f"record a microphone session ({SESSION}) on every board").hexsha


def _held_out_room(specs: Path) -> None:
    """The room the virtual microphones hear: the example's words from another seed than the training set's."""
    from controller.pipeline.speech import speech
    from device.microphone import ROOM
    from device.microphone import Utterances
    from specs.v1alpha1.dataset import SpeechSource

    source = yaml.safe_load((specs / "dataset.yaml").read_text())["spec"]["sources"][0]
    held_out = SpeechSource(**{**source, "utterancesPerWord": 4, "seed": source["seed"] + 1000})
    ROOM.play(Utterances.of(*speech(held_out)))
    ROOM.say(WORD)


def _record(controller: _Controller, specs: Path, emulated=None) -> bool:
    """Every board records the session the commit asks for: the Linux agents on request, the
    microcontrollers' samplers through the gateway, which follows the campaign on their behalf."""
    _held_out_room(specs)
    for board in controller.devices.linux.values():
        board.collection.pace = 0     # the room's audio is replayed as fast as it is made
    sha = _commit_session(specs)
    print(f"\n== The closed loop: someone says \"{WORD}\" near every microphone\n"
          f"demo: committed {sha[:12]}: Fleet kws-linux collects {SECONDS} s of microphone audio and "
          f"Fleet kws-mcu {MCU_WINDOWS} s (session {SESSION}); the microcontrollers stream int16 PCM over "
          "serial and the gateway files it under the campaign", flush=True)
    # (the gateway a microcontroller is behind, its id, how its microphone starts hearing the room)
    mcus = [(controller.devices.gateway, device_id, lambda mcu=mcu: mcu.listen(MCU_WINDOWS))
            for device_id, mcu in controller.devices.mcus.items()]
    if emulated is not None:
        from controller.demo_emulated import DEVICE_ID
        from device.microphone import Microphone

        mcus.append((emulated.gateway, DEVICE_ID,
                     lambda: emulated.board.hear(Microphone(DEVICE_ID).stream(MCU_WINDOWS))))
    for gateway, device_id, listen in mcus:
        if not gateway.boards[device_id].campaigns.started.wait(120):
            print(f"demo: the campaign did not reach {device_id}'s gateway in 120 s", file=sys.stderr)
            return False
        listen()
    expected = SECONDS * len(controller.devices.linux) + MCU_WINDOWS * len(mcus)
    if not controller.collection.collector.wait_for(windows=expected, timeout=120):
        print(f"demo: the collector stored {controller.collection.collector.stats.windows} of {expected} "
              "windows in 120 s", file=sys.stderr)
        return False
    state = ["--state-dir", str(controller.state)]
    print(f"\n$ origami samples ls --session {SESSION} --limit 4", flush=True)
    main(["samples", "ls", "--session", SESSION, "--limit", "4", *state])
    print(f"\n$ origami samples label {WORD} --session {SESSION}", flush=True)
    return main(["samples", "label", WORD, "--session", SESSION, *state]) == 0


def _wait_retrained(controller: _Controller, before: dict[str, str]) -> bool:
    """Every fleet Ready on another version than `before` (no commit: the collected snapshots changed)."""
    print("\n== Retrain on the labelled windows (retrain policy), roll out", flush=True)
    started, last = time.monotonic(), ""
    while time.monotonic() - started < TIMEOUT_S:
        line = _progress_line(controller.store, controller.fleets, started)
        if line.split("s  ", 1)[-1] != last:
            print(line, flush=True)
            last = line.split("s  ", 1)[-1]
        objs = [controller.store.object("Fleet", f) for f in controller.fleets]
        if all(o.is_true("Ready") and o.fleet.version != before[o.name] for o in objs):
            print(f"  every device reports the retrained version ({time.monotonic() - started:.0f}s)", flush=True)
            return True
        time.sleep(1.0)
    print(f"demo: not retrained after {TIMEOUT_S}s", file=sys.stderr)
    return False


def _show_snapshots(controller: _Controller) -> None:
    for event in controller.store.events(kind="Dataset", name="keywords"):
        if event.reason == "SnapshotPinned":
            print(f"  Dataset/keywords {event.reason}: {event.message}", flush=True)


def _show_card(controller: _Controller, specs: Path) -> None:
    """The int8 card's input section, read back from the stage cache the build worker filled."""
    from controller.loading import load_repository
    from controller.pipeline.build import built_model
    from controller.pipeline.cards import device_section
    from controller.planning.keys import model_keys

    repo = load_repository(specs).require_valid()
    build = built_model(repo, "kws-dscnn", model_keys(repo, "kws-dscnn"), controller.builder.store,
                        controller.builder.cache)
    if build is None:
        return
    int8 = build.variant("int8")
    print(f"\n== kws-dscnn/int8: TFLM accuracy {int8.accuracy:.4f} on {build.dataset} (held-out split), "
          f"{int8.size_bytes:,} B, arena {int8.arena_bytes:,} B", flush=True)
    print(device_section(Path(int8.cards["card.md"]).read_text()), flush=True)


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
    from controller.firmware.device_image import KWS_OPERATORS

    emulated = _start_emulated(work, KWS_OPERATORS)
    controller = _Controller(work, specs, FLEET, collect=True)
    try:
        if emulated is not None and not emulated.attach(controller.broker.url, controller.profiles):
            emulated = None
        if not _wait_converged(controller.store, controller.fleets, first,
                               "Reconcile: synthesise speech, train, squeeze, measure, roll out", emulated):
            return 1
        _show_releases(controller.store, controller.fleets)
        _show_card(controller, specs)
        before = {name: controller.store.object("Fleet", name).fleet.version for name in controller.fleets}
        if not _record(controller, specs, emulated) or not _wait_retrained(controller, before):
            return 1
        _show_snapshots(controller)
        _show_releases(controller.store, controller.fleets)
        if emulated is not None:
            _show_emulated(controller.store, emulated)
    finally:
        from device.microphone import ROOM

        ROOM.say(None)
        ROOM.play(None)
        if emulated is not None:
            emulated.stop()
        controller.stop()
    print("\n== Status table\n$ origami status", flush=True)
    return main(["status", "--state-dir", str(controller.state)])


if __name__ == "__main__":
    sys.exit(run())
