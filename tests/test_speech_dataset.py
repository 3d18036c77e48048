"""The `speech` generator (espeak-ng) and the audio front end: reproducible bytes, bounded input, tf.signal parity."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from pydantic import ValidationError

from controller.pipeline import speech as speech_module
from controller.pipeline.datasets import build_snapshot
from controller.pipeline.datasets import source_input_digest
from runtimes.audio_features import features
from runtimes.audio_features import front_end
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def speech_spec(seed=3, words=("yes", "no"), utterances=6, **source) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "task": "classification",
        "sources": [{"type": "generated", "generator": "speech", "words": list(words), "utterancesPerWord": utterances,
                     "seed": seed, "unknownWords": ["cat", "tree"], **source}],
        "preprocessing": {"audioFeatures": {"kind": "mfcc"}}, "split": {"seed": 1}})


def digest(snapshot) -> str:
    return hashlib.sha256(snapshot.encode()).hexdigest()


@needs_espeak
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first, again = build_snapshot(speech_spec(), tmp_path), build_snapshot(speech_spec(), tmp_path)
    assert digest(first) == digest(again)
    assert digest(build_snapshot(speech_spec(seed=4), tmp_path)) != digest(first)
    assert first.classes == ["yes", "no", "unknown", "silence"]
    assert first.input_shape == (49, 10, 1)  # MLPerf Tiny KWS's 49 frames x 10 MFCCs
    assert sum(len(first.y(s)) for s in ("train", "validation", "test")) == 4 * 6
    stored = first.preprocessing["audio_features"]
    assert stored == front_end() and stored["frame_length"] == 640 and stored["frame_step"] == 320
    assert source_input_digest(speech_spec().sources[0], tmp_path).startswith("espeak-ng ")


@needs_espeak
def test_clips_are_one_second_words_with_shift_and_silence_is_quiet():
    source = speech_spec(utterances=4, noise=0.05, shiftMs=200).sources[0]
    x, y, classes = speech_module.speech(source)
    assert x.shape == (16, 16000, 1) and x.dtype == np.float32
    assert np.array_equal(np.round(x * 32768), x * 32768)  # 16-bit PCM, as a microphone gives
    energy = np.abs(x[:, :, 0]).max(axis=1)
    words, silence = energy[y != classes.index("silence")], energy[y == classes.index("silence")]
    assert words.min() > 0.2 and silence.max() < 0.1
    # Time shifts: the loudest point of the same word moves between utterances.
    peaks = {int(np.argmax(np.abs(clip[:, 0]))) for clip, label in zip(x, y) if label == 0}
    assert len(peaks) > 1


@pytest.mark.parametrize("word", ["Yes", "yes no", "-v", "a;rm", "", "x" * 21, "ünï"])
def test_words_outside_lowercase_letters_are_refused_by_the_spec(word):
    with pytest.raises(ValidationError):
        speech_spec(words=[word])


def test_extra_class_names_and_duplicates_are_refused():
    for words in (["yes", "yes"], ["unknown"], ["silence"], ["cat"]):  # "cat" is an unknown word here
        with pytest.raises(ValidationError):
            speech_spec(words=words)


def test_synthesise_refuses_anything_but_letters_even_past_the_spec(tmp_path):
    with pytest.raises(StageError, match="letters a-z only"):
        speech_module.synthesise("--help", "en-us", "m1", 150, 50, 100, str(tmp_path))


def test_missing_espeak_is_a_clear_stage_error(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_module, "ESPEAK", "espeak-ng-not-installed")
    with pytest.raises(StageError, match="espeak-ng is not installed"):
        speech_module.synthesise("yes", "en-us", "m1", 150, 50, 100, str(tmp_path))


def test_the_sample_budget_counts_clips_before_any_synthesis(tmp_path, monkeypatch):
    from controller.limits import Limits

    monkeypatch.setattr(speech_module, "synthesise", lambda *a, **k: pytest.fail("synthesised over budget"))
    with pytest.raises(StageError, match="max_dataset_values|maxDatasetValues"):
        build_snapshot(speech_spec(utterances=100), tmp_path, limits=Limits(max_dataset_values=16000 * 399))


def test_features_match_tf_signal():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    clips = (0.3 * rng.standard_normal((3, 16000))).astype(np.float32)
    params = front_end()
    ours = features(clips, params)[..., 0]
    stft = tf.signal.stft(clips, frame_length=640, frame_step=320, fft_length=1024,
                          window_fn=tf.signal.hann_window)
    mel = tf.signal.linear_to_mel_weight_matrix(40, 513, 16000, 20.0, 4000.0)
    log_mel = tf.math.log(tf.tensordot(tf.abs(stft), mel, 1) + 1e-6)
    theirs = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=2e-3)
