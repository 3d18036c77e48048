"""Inference from raw audio on the emulated Nano 33 (QEMU): AUDIO_INFER frames carry int16 PCM and
the model's front-end parameters, the firmware's own C (origami_audio.c) computes the features and
runs the model; its outputs must equal host TFLM's on the host's features, byte for byte.

Reuses the session's device-core image (`ota_image`, FULLY_CONNECTED) with a linear int8 model over
the 49 x 10 MFCCs: the front end is what is under test, not the network."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from controller.devices.signing import Signer
from device.serial_frames import AckStatus
from device.serial_frames import signed_manifest_payload
from runtimes.audio_device import audio_params
from runtimes.audio_features import features
from runtimes.audio_features import front_end
from runtimes.tflm import run_tflm
from specs.errors import DeviceError
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import sha256_hex
from tests.audio_c import host_features
from tests.firmware_rig import emulated_nano33
from tests.tiny_tflite import linear_int8_on


def clips() -> np.ndarray:
    """A few 1 s windows of int16 PCM: espeak-ng words when installed, a tone, noise and silence."""
    rng = np.random.default_rng(18)
    t = np.arange(16000) / 16000.0
    out = [np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16),
           np.clip(rng.standard_normal(16000) * 3000, -32768, 32767).astype(np.int16), np.zeros(16000, np.int16)]
    if shutil.which("espeak-ng"):
        from controller.pipeline import speech as speech_module
        from tests.test_speech_dataset import speech_spec

        x, _, _ = speech_module.speech(speech_spec(words=("yes", "no"), utterances=1, noise=0.1).sources[0])
        out += list(np.round(x[:, :, 0] * 32768).astype(np.int16))
    return np.stack(out)


def test_device_features_and_outputs_from_raw_audio_equal_host_tflm(ota_image, ota_key, tmp_path):
    pcm = clips()
    front = front_end()
    f = features(pcm.astype(np.float32) / 32768.0, front)
    normalize = {"method": "standard", "offset": [float(f.mean())], "scale": [float(f.std())]}
    model = linear_int8_on(((f - f.mean()) / f.std()).reshape(len(pcm), -1))
    from ai_edge_litert.interpreter import Interpreter

    scale, zero = Interpreter(model_content=model).get_input_details()[0]["quantization"]
    params = audio_params(front, normalize, {"dtype": "int8", "scale": scale, "zero_point": zero})
    host_inputs = np.stack([host_features(params, front, c).reshape(-1) for c in pcm])
    host = run_tflm(model, host_inputs, dequantize=False)
    manifest = Manifest(name="kws-linear", version="1", digest=sha256_hex(model), size=len(model),
                        target=Target(runtime="tflm", precision="int8", board="nano33ble"))
    with emulated_nano33(ota_image.elf, tmp_path / "board") as (_, link):
        link.query()
        outcome = link.send_model(signed_manifest_payload(Signer(ota_key).sign(manifest)), model)
        assert outcome.status is AckStatus.INSTALLED, outcome.events
        from_audio = [link.infer_audio(params.pack(), c.astype("<i2").tobytes()) for c in pcm]
        from_features = [link.infer(x.tobytes())[0] for x in host_inputs]
        with pytest.raises(DeviceError, match="64 B of parameters"):
            link.infer_audio(params.pack(), b"\0")  # half a sample: the C checks the frame's length
        bad = params.__class__(**{**params.__dict__, "fft_size": 1000})
        with pytest.raises(DeviceError, match="invalid parameters"):
            link.infer_audio(bad.pack(), pcm[0].tobytes())
        with pytest.raises(DeviceError, match="input size"):
            link.infer_audio(params.pack(), pcm[0][:8000].tobytes())  # half a second: 24 frames, not 49
    outputs = np.frombuffer(b"".join(o for o, _ in from_audio), dtype=host.dtype).reshape(host.shape)
    assert outputs.tobytes() == host.tobytes()
    assert b"".join(from_features) == host.tobytes()
    assert len({o.tobytes() for o in outputs}) > 1  # the clips give different answers
    assert all(cycles > 0 for _, cycles in from_audio)
