"""Virtual microphones and their windows on the way to a model: int16 PCM seeded by device, SAMPLES
frames that fit the serial link, collected audio read at full scale, and the pinned snapshots a
sandboxed build reads. Fast: synthetic tones stand in for espeak-ng here (tests/test_kws_loop.py
runs the loop on real synthetic speech)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from controller.collect.index import SampleIndex
from controller.collect.ingest import Collector
from controller.collect.ingest import _Message
from controller.collect.labels import label_session
from controller.collect.snapshot import CollectedSnapshots
from controller.collect.snapshot import PinnedManifests
from controller.collect.snapshot import pinned_for_build
from controller.collect.snapshot import source_key
from controller.collect.snapshot import source_selection
from controller.pipeline.collected import register_collected_provider
from controller.pipeline.datasets import build_snapshot
from controller.store.artifacts import ArtifactStore
from device.capture import CollectionRun
from device.capture import SampleCapture
from device.microphone import Microphone
from device.microphone import Room
from device.microphone import Utterances
from device.sample_frames import pcm_body
from device.sample_frames import sample_of
from device.serial_frames import MAX_PAYLOAD
from device.serial_frames import FrameType
from device.serial_frames import encode_json
from specs.errors import DeviceError
from specs.errors import StageError
from specs.errors import UsageError
from specs.v1alpha1.collection import CollectRequest
from specs.v1alpha1.dataset import Dataset
from specs.v1alpha1.protocol import samples_topic

RATE = 16_000


def tones() -> Utterances:
    """"hi": a loud 440 Hz tone, "lo": a quiet 200 Hz one; three clips each of 0.5 s."""
    t = np.arange(RATE // 2) / RATE
    clips = [0.8 * np.sin(2 * np.pi * 440 * t)] * 3 + [0.05 * np.sin(2 * np.pi * 200 * t)] * 3
    return Utterances(np.array(clips, np.float32), ("hi",) * 3 + ("lo",) * 3)


@pytest.fixture
def room():
    r = Room()
    r.play(tones())
    return r


def test_a_microphone_hears_the_campaign_word_as_int16_pcm_seeded_by_its_device(room):
    one, again, other = Microphone("mic-1", room=room), Microphone("mic-1", room=room), Microphone("mic-2", room=room)
    first = one.window(RATE, "hi")
    assert first.dtype == np.int16 and first.shape == (RATE, 1)
    assert np.array_equal(first, again.window(RATE, "hi"))              # a restarted device replays the same
    assert not np.array_equal(first, other.window(RATE, "hi"))          # another capsule, gain and noise
    assert np.abs(first).max() > 10_000                                 # the loud word, not padding
    assert np.abs(one.window(RATE, "lo")).max() < 3_000
    room.say("lo")                                                      # unlabelled: what the speaker says
    assert np.abs(one.window(RATE, None)).max() < 3_000
    assert np.abs(one.window(RATE, "not-in-the-bank")).max() < 3_000


def test_a_microphone_without_utterances_says_what_to_do():
    with pytest.raises(UsageError, match="no utterances to replay"):
        Microphone("mic-1", room=Room()).window(RATE, None)


def test_a_second_of_audio_fits_a_serial_frame_as_pcm_and_the_gateway_restores_it(room):
    window = Microphone("mcu-1", room=room).window(RATE, "hi")
    body = pcm_body(window, sensor="microphone", rate_hz=RATE, label="hi", session="s1")
    assert len(encode_json(FrameType.SAMPLES, body)) < MAX_PAYLOAD
    as_values = {**body, "values": window.ravel().tolist()}
    del as_values["pcm"]
    assert len(json.dumps(as_values)) > MAX_PAYLOAD                      # why PCM: a JSON list would not fit
    sample = sample_of("mcu-1", body)
    assert sample.dtype == "int16" and sample.shape == [RATE, 1] and sample.label == "hi"
    assert np.array_equal(np.array(sample.values), window.ravel())


@pytest.mark.parametrize("pcm, why", [("AAAA", "holds 1 samples"), ("not base64!", "not valid base64"),
                                      (12, "base64 string")])
def test_a_malformed_pcm_window_is_refused_with_a_reason(pcm, why):
    with pytest.raises(DeviceError, match=why):
        sample_of("mcu-1", {"sensor": "microphone", "rateHz": RATE, "shape": [RATE, 1], "pcm": pcm})


COLLECTED = {"type": "collected", "fleet": "f1", "sensor": "microphone", "window": RATE, "labels": ["hi", "lo"]}


def dataset(*sources) -> Dataset:
    return Dataset.model_validate({"apiVersion": "origami/v1alpha1", "kind": "Dataset", "metadata": {"name": "kw"},
                                   "spec": {"task": "classification", "sources": list(sources),
                                            "split": {"train": 0.5, "validation": 0.25, "test": 0.25}}})


@pytest.fixture
def collected(tmp_path, room):
    """Four microphone windows of session s1 recorded and ingested, the snapshot provider registered."""
    index, artifacts = SampleIndex(tmp_path / "state.db"), ArtifactStore(tmp_path / "artifacts")
    collector = Collector("mqtt://127.0.0.1:1", index, artifacts)     # fed directly
    messages = []
    capture = SampleCapture("mic-1", lambda topic, payload: messages.append(payload), lambda: True)
    request = CollectRequest(deviceId="mic-1", campaign="c1", fleet="f1", sensor="microphone", rateHz=RATE,
                             durationSeconds=4, window=RATE, session="s1")
    room.say("hi")
    CollectionRun(request, Microphone("mic-1", room=room), capture, pace=0).run()
    collector.ingest([_Message(samples_topic("mic-1"), m, i, 0) for i, m in enumerate(messages)])
    provider = CollectedSnapshots(index, artifacts)
    register_collected_provider(provider)
    yield index, artifacts, provider
    register_collected_provider(None)
    index.close()


def test_collected_microphone_windows_are_read_at_full_scale_like_generated_speech(collected):
    index, _, provider = collected
    source = dataset(COLLECTED).spec.sources[0]
    assert label_session(index, "s1", "hi") == 4
    found = provider.samples(source)
    raw = index.select(source_selection(source))
    assert {r.dtype for r in raw} == {"int16"} and found.x.shape == (4, RATE, 1)
    assert 0.3 < float(np.abs(found.x).max()) <= 1.0                     # int16 / 32768, not raw counts


def test_the_build_worker_reads_exactly_the_snapshot_the_controller_pinned(collected):
    index, artifacts, provider = collected
    source = dataset(COLLECTED).spec.sources[0]
    assert pinned_for_build(provider, [source]) == {}                   # nothing labelled: nothing pinned
    assert PinnedManifests(artifacts, {}).samples(source).x.shape == (0, RATE, 1)
    label_session(index, "s1", "hi")
    digest = provider.digest(source)                                    # the controller pins (planning keys)
    pins = pinned_for_build(provider, [source])
    assert list(pins) == [source_key(source)]
    in_worker = PinnedManifests(artifacts, pins)
    assert in_worker.digest(source) == digest
    assert np.array_equal(in_worker.samples(source).x, provider.samples(source).x)
    label_session(index, "s1", "lo")                                    # after planning: the build keeps its pin
    assert in_worker.samples(source).labels == ["hi"] * 4
    assert pinned_for_build(object(), [source]) is None                 # no collector in this process


def test_a_dataset_trains_on_its_other_sources_until_samples_are_labelled(collected, tmp_path):
    clip = {"type": "generated", "generator": "gestures", "samples": 8}
    accel = {**COLLECTED, "sensor": "accel", "window": 64, "labels": ["idle", "shake"]}
    snapshot = build_snapshot(dataset(clip, accel).spec, tmp_path)
    assert sum(len(snapshot.arrays[f"y_{s}"]) for s in ("train", "validation", "test")) == 8
    with pytest.raises(StageError, match="no labelled samples collected yet"):
        build_snapshot(dataset(accel).spec, tmp_path)
