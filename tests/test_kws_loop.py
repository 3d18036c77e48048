"""The closed loop on keyword spotting (issue 18), end to end on a real Mosquitto.

Virtual microphones on two virtual rpi4 boards (the real device agent) and the microphones of an
emulated Nano 33 BLE Sense and an emulated Pico (Origami's C device core and TFLM built for their
Cortex-M cores, on qemu-system-arm, behind a gateway on their serial ports: origami_microphone.c
streams SAMPLES frames of int16 PCM) hear held-out espeak-ng utterances; the gateway runs the
Fleet's collection campaign for the boards that cannot read MQTT; the collector stores the 1 s
windows; `origami samples label` labels the session; the collected snapshot's digest changes; the
retrain policy retrains the DS-CNN (in the sandboxed build worker, as `origami reconcile` runs it)
on the generated speech plus the labelled windows, with the same MFCC front end; the new model
rolls out over MQTT to the Linux boards and over the serial link to the emulated MCUs, whose own C
code verifies, installs and reports it.

The default suite runs a small vocabulary with few clips and a small model; the full vocabulary
and the example's model run under -m slow.
"""
from __future__ import annotations

import shutil
import threading
import uuid

import git
import numpy as np
import pytest

from controller.cli.main import main
from controller.collect.index import Selection
from controller.collect.service import CollectionService
from controller.devices.hub import DeviceHub
from controller.devices.signing import Signer
from controller.firmware.device_image import KWS_OPERATORS
from controller.firmware.qemu import emulated_board
from controller.loading import load_repository
from controller.pipeline.speech import speech
from controller.reconciler.loop import Reconciler
from controller.reconciler.sandbox import SandboxedBuilder
from controller.reconciler.wiring import HubLink
from controller.sources.git import GitSource
from controller.state import StateStore
from device.gateway import Gateway
from device.gateway.emulated import QemuBoard
from device.microphone import ROOM
from device.microphone import Microphone
from device.microphone import Utterances
from device.virtual.fleet import VirtualFleet
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.dataset import SPEECH_KEYWORDS
from specs.v1alpha1.dataset import SpeechSource
from tests.firmware_rig import firmware_tools_missing
from tests.reconcile_specs import commit
from tests.waiting import wait_until

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_emulator = pytest.mark.skipif(firmware_tools_missing() is not None, reason=str(firmware_tools_missing()))

EMULATED = ("nano33ble", "pico")

DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: keywords}
spec:
  task: classification
  retrain: {minNewSamples: MIN_NEW}
  sources:
    - {type: generated, generator: speech, words: WORDS, utterancesPerWord: UTTERANCES, seed: 18,
       unknownWords: [cat, tree, house]}
    - {type: collected, fleet: kws, sensor: microphone, window: 16000, labels: WORDS}
  preprocessing:
    audioFeatures: {kind: mfcc, frameMs: 40, strideMs: 20, melBins: 40, coefficients: 10, upperHz: 4000}
    normalize: {method: standard}
  split: {train: 0.7, validation: 0.1, test: 0.2, seed: 18}
"""
MODEL = """apiVersion: origami/v1alpha1
kind: Model
metadata: {name: kws}
spec:
  dataset: keywords
  architecture: {preset: kws-dscnn, units: UNITS, kernelSize: 3}
  training: {epochs: EPOCHS, batchSize: 16, learningRate: 0.003, seed: 18}
  variants: [{name: int8, quantization: int8}]
  gates: {maxArena: 96KiB}
"""
FLEET = """apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: kws}
spec:
  model: kws
  variant: int8
  selector: {boards: [rpi4, nano33ble, pico]}     # a broker of the test's own: no other test's devices join the fleet
  rollout: {canary: 1, batchSize: 100%, maxUnavailable: 100%, deviceTimeoutSeconds: 120}
COLLECT"""


def specs(tag: str, words: list[str], *, utterances: int, epochs: int, units: list[int], min_new: int,
          collect: str = "") -> dict[str, str]:
    quoted = "[" + ", ".join(f'"{w}"' for w in words) + "]"   # YAML reads yes/no/on/off as booleans
    return {"dataset.yaml": DATASET.replace("WORDS", quoted).replace("UTTERANCES", str(utterances))
            .replace("MIN_NEW", str(min_new)),
            "model.yaml": MODEL.replace("UNITS", str(units)).replace("EPOCHS", str(epochs)),
            "fleet.yaml": FLEET.replace("TAG", tag).replace("COLLECT", collect)}


def held_out_utterances(words: list[str], per_word: int) -> Utterances:
    """What the room's speakers say: the same words from another seed than the training set's."""
    clips, labels, classes = speech(SpeechSource(type="generated", generator="speech", words=words,
                                                 unknownWords=["cat", "tree", "house"], utterancesPerWord=per_word,
                                                 seed=1018))
    return Utterances.of(clips, labels, classes)


@pytest.fixture(scope="module")
def kws_images(firmware_cache, ota_key, tmp_path_factory):
    """The emulated Nano 33's and Pico's device-core images with the DS-CNN's kernels, trusting `ota_key`
    (a TFLM library per core: about a minute each cold, then cached in the session's firmware cache)."""
    from controller.firmware.device_image import build_device_image

    work = tmp_path_factory.mktemp("kws-images")
    return {board: build_device_image(board, ota_key.public_key(), cache_dir=firmware_cache, work_dir=work / board,
                                      operators=KWS_OPERATORS) for board in EMULATED}


class Loop:
    """The controller side (reconciler, sandboxed builds, hub, collector), a virtual fleet of Linux
    boards and the emulated MCUs behind a gateway."""

    def __init__(self, tmp, url: str, tag: str, boards: dict[str, int], signer: Signer, images: dict) -> None:
        self.tmp, self.tag = tmp, tag
        self.state_dir = tmp / "state"
        self.signer = signer
        self.fleet = VirtualFleet(url, tmp / "devices", self.signer.public_key, boards, prefix=f"kws-{tag}",
                                  labels={"loop": tag}).start()
        for board in self.fleet.linux.values():
            board.collection.pace = 0                  # record as fast as the audio can be made
        self.emulated: dict[str, QemuBoard] = {}       # device id -> the QEMU process
        self.gateway = Gateway(f"kws-{tag}-gw", url, BUILTIN_PROFILES, spool=tmp / "gateway",
                               public_key=self.signer.public_key)
        for board, image in images.items():
            device_id = f"kws-{tag}-{board}"
            qemu = QemuBoard(emulated_board(board).machine, image.elf, tmp / device_id, device_id)
            self.emulated[device_id] = qemu
            self.gateway.attach(qemu.start())
        self.state = StateStore(self.state_dir / "origami-state.db")
        self.builder = SandboxedBuilder(self.state_dir)
        self.hub = DeviceHub(url, self.builder.store, client_id=f"controller-{tag}").start()
        self.service = CollectionService(url, self.state.path, self.builder.store, store=self.state,
                                         client_id=f"collector-{tag}", campaign_link=self.hub.link).start()
        self.origin = git.Repo.init(tmp / "origin", initial_branch="main")
        self.loop = Reconciler(self.state, GitSource(self.origin.working_dir, self.state_dir / "source", interval=0.5),
                               self.builder, HubLink(self.hub), self.signer)
        self.loop.on_repository(lambda repo: self.service.apply(repo, self.state.devices()))
        self.stop_loop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop_loop,), kwargs={"interval": 0.5},
                                       daemon=True)

    @property
    def device_ids(self) -> list[str]:
        return [*self.fleet.device_ids, *self.emulated]

    def start(self) -> Loop:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_loop.set()
        self.thread.join(timeout=60)
        self.service.stop()
        self.hub.stop()
        self.gateway.close()
        for qemu in self.emulated.values():
            qemu.stop()
        self.fleet.stop()

    def on_board(self, device_id: str) -> dict:
        """What an emulated board's own C code reports (a state query over its serial link)."""
        return self.gateway.boards[device_id].link.query()[1]

    def converged(self, sha: str, timeout: float) -> str:
        """Wait until the fleet runs the model of commit `sha` everywhere; its version."""
        def ready():
            obj = self.state.object("Fleet", "kws")
            return obj is not None and obj.observed_commit == sha and obj.is_true("Ready") and obj
        try:
            fleet = wait_until(ready, f"Fleet/kws Ready at {sha[:8]}", timeout)
        except AssertionError:
            raise AssertionError(self.recent_events()) from None
        return self.everywhere(fleet.fleet.version, timeout)

    def retrained(self, before: str, timeout: float) -> str:
        """Wait until a version other than `before` runs everywhere (no commit: the snapshot changed)."""
        def other():
            obj = self.state.object("Fleet", "kws")
            return obj is not None and obj.is_true("Ready") and obj.fleet.version != before and obj
        try:
            version = wait_until(other, "a retrained model Ready", timeout).fleet.version
        except AssertionError:
            raise AssertionError(self.recent_events()) from None
        return self.everywhere(version, timeout)

    def everywhere(self, version: str, timeout: float) -> str:
        wait_until(lambda: all(self.state.device(d) and self.state.device(d).reported_version == version
                               for d in self.device_ids), f"every device reports {version}", timeout)
        return version

    def recent_events(self) -> str:
        return "; ".join(f"{e.kind}/{e.name} {e.reason}: {e.message}" for e in self.state.events()[-12:])


def run_the_loop(tmp, url, signer, images, words, *, utterances, epochs, units, seconds, timeout):
    tag = "k" + uuid.uuid4().hex[:6]
    ROOM.play(held_out_utterances(words, per_word=6))
    loop = Loop(tmp, url, tag, {"rpi4": 2}, signer, images).start()
    try:
        linux = sorted(loop.fleet.linux)
        mcus = sorted(loop.emulated)
        expected = seconds * (len(linux) + len(mcus))
        shape = dict(utterances=utterances, epochs=epochs, units=units, min_new=expected)

        # 1. The model trains on generated speech alone (nothing collected yet) and rolls out, to the
        #    emulated boards as a signed update their firmware verifies and installs.
        first = commit(loop.origin, specs(tag, words, **shape), "keyword spotting")
        v1 = loop.converged(first, timeout)
        index = loop.service.index
        assert index.count(Selection(fleet="kws")) == 0
        on_board = {d: loop.on_board(d) for d in mcus}
        assert all(s["health"] == "ok" and s["modelDigest"] for s in on_board.values()), on_board

        # 2. A campaign: the Fleet asks its members for `seconds` of microphone audio in session say-no,
        #    unlabelled, while someone in the room repeats "no". The Linux agents record on request; the
        #    gateway runs the campaign for the MCUs, whose microphones stream what they hear.
        ROOM.say("no")
        collect = f"  collect: {{sensor: microphone, rateHz: 16000, durationSeconds: {seconds}, session: say-no}}\n"
        second = commit(loop.origin, specs(tag, words, **shape, collect=collect), "record people saying no")
        for device_id in mcus:
            campaign = loop.gateway.boards[device_id].campaigns
            assert campaign.started.wait(timeout), f"{device_id}: no collection campaign reached the gateway"
            # the room, a second more than asked: not recorded
            loop.emulated[device_id].hear(Microphone(device_id).stream(seconds + 1))
        collector = loop.service.collector
        assert collector.wait_for(windows=expected, timeout=timeout), collector.stats.to_dict()
        assert loop.converged(second, timeout) == v1          # a Fleet-only commit retrains nothing
        session = Selection(session="say-no", sensor="microphone")
        wait_until(lambda: index.count(Selection(sensor="microphone")) == expected + len(mcus),
                   "the MCUs' extra second arrives outside the campaign", 60)
        assert index.count(session) == expected and index.count(Selection(session="say-no", labelled=False)) == expected
        assert {r.device_id for r in index.select(session)} == {*linux, *mcus}
        assert {r.dtype for r in index.select(session)} == {"int16"}
        assert not any(index.rejections(d) for d in loop.device_ids)
        source = load_repository(loop.origin.working_dir).require_valid().datasets["keywords"].spec.sources[1]
        before = loop.service.provider.digest(source)

        # 3. The operator labels the session; the snapshot changes; the policy retrains; the new model
        #    rolls out to the Linux boards (MQTT) and the emulated Nano 33 and Pico (serial link).
        assert main(["samples", "label", "no", "--session", "say-no", "--state-dir", str(loop.state_dir)]) == 0
        v2 = loop.retrained(v1, timeout)
        after = loop.service.provider.digest(source)
        assert after != before and v2 != v1
        pinned = loop.service.provider.samples(source)
        assert pinned.labels == ["no"] * expected and pinned.x.shape == (expected, 16000, 1)
        assert float(np.abs(pinned.x).max()) <= 1.0            # int16 PCM read as full scale, like the speech
        events = [e for e in loop.state.events(kind="Dataset", name="keywords") if e.reason == "SnapshotPinned"]
        assert events and after[:12] in events[-1].message
        trained_on = loop.state.object("Model", "kws").model.dataset
        assert loop.state.object("Dataset", "keywords").dataset.snapshot == trained_on
        installs = loop.fleet.installs()   # digests from the devices' Installed events (the MCUs' from their C code)
        assert all(len(installs[d]) == 2 and installs[d][0] != installs[d][1] for d in loop.device_ids), installs
        for device_id in mcus:
            now = loop.on_board(device_id)
            assert now["modelDigest"] == installs[device_id][1] != on_board[device_id]["modelDigest"]
            assert now["health"] == "ok" and now["activeSlot"] != on_board[device_id]["activeSlot"], now
        return loop.state.object("Model", "kws").model.variants["int8"]
    except AssertionError as err:   # say where the loop stood: the controller's events, the MCUs' own words
        said = {d: q.recent_output() for d, q in loop.emulated.items()}
        raise AssertionError(f"{err}\nrecent events: {loop.recent_events()}\nemulated boards said: {said}") from None
    finally:
        ROOM.say(None)
        ROOM.play(None)
        loop.stop()


@needs_espeak
@needs_emulator
def test_microphones_collect_label_retrain_and_roll_out_to_linux_boards_and_emulated_mcus(
        tmp_path, fresh_mosquitto, ota_key, kws_images):
    run_the_loop(tmp_path, fresh_mosquitto.url, Signer(ota_key), kws_images, ["yes", "no"], utterances=12, epochs=2,
                 units=[8, 8, 8], seconds=3, timeout=240)


@pytest.mark.slow
@needs_espeak
@needs_emulator
def test_the_full_vocabulary_loop(tmp_path, fresh_mosquitto, ota_key, kws_images):
    int8 = run_the_loop(tmp_path, fresh_mosquitto.url, Signer(ota_key), kws_images, list(SPEECH_KEYWORDS),
                        utterances=60, epochs=10, units=[64, 64, 64, 64, 64], seconds=10, timeout=900)
    assert int8.passed and int8.accuracy >= 0.8   # measured 0.905 (12 classes: chance is 0.08)
