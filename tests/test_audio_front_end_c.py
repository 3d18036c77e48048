"""The device's audio front end (origami_audio.c, compiled for the host) against the host's
(runtimes/audio_features.py + normalisation + int8 quantization): the int8 model input must be equal,
byte for byte, over espeak-ng speech, noise, silence and a clipped signal; bad parameters and buffers
are refused with their own status. One gcc call: the default suite runs it."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from runtimes.audio_device import PARAMS_BYTES
from runtimes.audio_device import AudioParamsError
from runtimes.audio_device import audio_params
from runtimes.audio_features import features
from runtimes.audio_features import front_end
from tests.audio_c import compile_front_end
from tests.audio_c import device_features
from tests.audio_c import host_features

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="needs a host C compiler (gcc)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

OK, BAD_PARAMS, TOO_LARGE, TOO_SHORT, OUTPUT_SIZE = range(5)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return compile_front_end(tmp_path_factory.mktemp("audio") / "libaudio.so")


def params_for(front: dict, clips: np.ndarray):
    """Normalisation and an int8 input quantization fitted on `clips`' features, as a trained model has."""
    f = features(clips.astype(np.float32) / 32768.0, front)
    normalize = {"method": "standard", "offset": [float(f.mean())], "scale": [float(f.std())]}
    x = (f - f.mean()) / f.std()
    scale = float((x.max() - x.min()) / 255.0)
    return audio_params(front, normalize, {"dtype": "int8", "scale": scale,
                                           "zero_point": int(-128 - round(float(x.min()) / scale))})


def others(rng) -> list[np.ndarray]:
    return [np.zeros(16000, np.int16), (rng.standard_normal(16000) * 3).astype(np.int16),  # silence, hiss
            np.clip(rng.standard_normal(16000) * 20000, -32768, 32767).astype(np.int16),  # clipped noise
            np.full(16000, -32768, np.int16)]  # a stuck microphone


@needs_espeak
def test_int8_features_equal_the_hosts_on_speech_noise_and_silence(lib):
    from controller.pipeline import speech as speech_module
    from tests.test_speech_dataset import speech_spec

    x, _, _ = speech_module.speech(speech_spec(words=("yes", "stop"), utterances=3, noise=0.1).sources[0])
    clips = np.round(x[:, :, 0] * 32768).astype(np.int16)
    front = front_end()
    params = params_for(front, clips)
    for i, pcm in enumerate([*clips, *others(np.random.default_rng(1))]):
        status, device = device_features(lib, params, pcm)
        host = host_features(params, front, pcm)
        assert status == OK and device.shape == (49, 10)
        assert np.array_equal(device, host), (i, int(np.sum(device != host)))
    assert len({device_features(lib, params, c)[1].tobytes() for c in clips}) == len(clips)  # not a constant


def test_other_front_ends_follow_the_meta_not_constants(lib):
    """Log-mel instead of MFCCs, other frames, rates and bands: the C reads every number from the params."""
    rng = np.random.default_rng(2)
    pcm = np.clip(rng.standard_normal(8000) * 4000, -32768, 32767).astype(np.int16)
    for front in (front_end("logmel", 8000, 32.0, 16.0, 32, None, 60.0, 3800.0),
                  front_end("mfcc", 8000, 25.0, 10.0, 20, 13, 0.0, 4000.0)):
        params = params_for(front, pcm[None, :])
        status, device = device_features(lib, params, pcm)
        assert status == OK
        assert np.array_equal(device, host_features(params, front, pcm))


def test_bad_parameters_and_buffers_are_refused(lib):
    params = params_for(front_end(), np.ones((1, 16000), np.int16))
    pcm = np.zeros(16000, np.int16)
    assert device_features(lib, params.__class__(**{**params.__dict__, "fft_size": 1000}), pcm)[0] == BAD_PARAMS
    assert device_features(lib, params.__class__(**{**params.__dict__, "frame_length": 2048,
                                                    "fft_size": 2048}), pcm)[0] == TOO_LARGE
    assert device_features(lib, params.__class__(**{**params.__dict__, "coefficients": 41}), pcm)[0] == BAD_PARAMS
    assert device_features(lib, params.__class__(**{**params.__dict__, "input_scale": 0.0}), pcm)[0] == BAD_PARAMS
    assert device_features(lib, params, pcm[:639])[0] == TOO_SHORT
    assert device_features(lib, params, pcm, out_len=489)[0] == OUTPUT_SIZE


def test_params_pack_into_the_frames_64_bytes_and_refuse_what_the_c_cannot_do():
    params = audio_params(front_end(), {"method": "none"}, {"dtype": "int8", "scale": 0.1, "zero_point": -3})
    assert len(params.pack()) == PARAMS_BYTES == 64
    assert params.coefficients == 10 and params.norm_scale == 1.0
    with pytest.raises(AudioParamsError, match="no audio front end"):
        audio_params({}, {"method": "none"}, {"dtype": "int8", "scale": 0.1, "zero_point": 0})
    with pytest.raises(AudioParamsError, match="int8"):
        audio_params(front_end(), {"method": "none"}, {"dtype": "float32", "scale": 0.0, "zero_point": 0})
    with pytest.raises(AudioParamsError, match="one channel"):
        audio_params(front_end(), {"method": "standard", "offset": [0, 1], "scale": [1, 1]},
                     {"dtype": "int8", "scale": 0.1, "zero_point": 0})


def test_the_model_meta_header_gives_the_c_front_end_the_models_numbers(tmp_path):
    import subprocess

    from controller.firmware.model_meta import meta_header
    from tests.audio_c import CORE

    device = {"task": "classification", "classes": ["yes", "no"], "audio_features": front_end(),
              "normalize": {"method": "standard", "offset": [-0.81], "scale": [5.77]},
              "input": {"dtype": "int8", "shape": [1, 49, 10, 1], "scale": 0.0461728, "zero_point": 45},
              "output": {"dtype": "int8", "shape": [1, 2], "scale": 1 / 256, "zero_point": -128}}
    (tmp_path / "origami_model_meta.h").write_text(meta_header(device))
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "origami_audio.h"\n#include "origami_model_meta.h"\nint main(void) {\n'
        '  origami_audio_params p = ORIGAMI_AUDIO_PARAMS_INIT;\n'
        '  printf("%u %u %u %u %u %u %.17g %.17g %.17g %.9g %.9g %.9g %d\\n", p.sample_rate, p.frame_length,'
        ' p.frame_step, p.fft_size, p.mel_bins, p.coefficients, p.lower_hz, p.upper_hz, p.log_offset,'
        ' p.norm_offset, p.norm_scale, p.input_scale, (int)p.input_zero_point);\n  return 0;\n}\n')
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{CORE}", f"-I{tmp_path}",
                    str(tmp_path / "main.c"), "-o", str(tmp_path / "meta")], check=True, timeout=60)
    printed = subprocess.run([str(tmp_path / "meta")], capture_output=True, text=True, check=True).stdout.split()
    expected = audio_params(device["audio_features"], device["normalize"], device["input"])
    assert [float(v) for v in printed] == pytest.approx(
        [float(v) for v in expected.__dict__.values()], rel=1e-7)
    without = meta_header({**device, "audio_features": None})
    assert "ORIGAMI_AUDIO_PARAMS_INIT" not in without
