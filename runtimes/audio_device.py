"""The audio front end's numbers as the device's C code takes them (`origami_audio_params` in
firmware_templates/device_core/origami_audio.h), from what the model's meta stores: the front end
(`runtimes.audio_features.front_end`), the input normalisation and the int8 input quantization.

The same 64 bytes head an AUDIO_INFER frame (docs/serial.md), so a board whose firmware carries no
model meta computes the features of whichever model it runs from the numbers the sender read in that
model's meta, never from constants compiled in.
"""
from __future__ import annotations

import struct
from dataclasses import astuple
from dataclasses import dataclass

# Little-endian: six u32 sizes, three f64 (Hz, Hz, log offset), three f32 (normalisation offset and
# scale, input scale), one i32 (input zero point).
LAYOUT = struct.Struct("<6I3d3fi")
PARAMS_BYTES = LAYOUT.size  # 64


class AudioParamsError(ValueError):
    """The model's meta cannot drive the device's front end (no audio features, not int8, several channels)."""


@dataclass(frozen=True)
class AudioParams:
    sample_rate: int
    frame_length: int
    frame_step: int
    fft_size: int
    mel_bins: int
    coefficients: int  # 0: log-mel
    lower_hz: float
    upper_hz: float
    log_offset: float
    norm_offset: float
    norm_scale: float
    input_scale: float
    input_zero_point: int

    def pack(self) -> bytes:
        return LAYOUT.pack(*astuple(self))


def audio_params(front_end: dict, normalize: dict, input_tensor: dict) -> AudioParams:
    """`front_end` as stored in the dataset snapshot, `normalize` and `input_tensor` as in the model meta
    (`controller.pipeline.device_info`: {"scale", "zero_point", "dtype"})."""
    if not front_end:
        raise AudioParamsError("the model's meta has no audio front end (preprocessing.audioFeatures)")
    if input_tensor.get("dtype") != "int8" or not input_tensor.get("scale"):
        raise AudioParamsError(f"the device's front end feeds an int8 model, not {input_tensor.get('dtype')}")
    offset, scale = 0.0, 1.0
    if normalize.get("method", "none") != "none":
        if len(normalize["offset"]) != 1 or len(normalize["scale"]) != 1:
            raise AudioParamsError("audio features have one channel: one normalisation offset and scale expected, "
                                   f"not {len(normalize['offset'])}")
        offset, scale = float(normalize["offset"][0]), float(normalize["scale"][0])
    return AudioParams(int(front_end["sample_rate"]), int(front_end["frame_length"]), int(front_end["frame_step"]),
                       int(front_end["fft_size"]), int(front_end["mel_bins"]),
                       int(front_end["coefficients"] or 0) if front_end["kind"] == "mfcc" else 0,
                       float(front_end["lower_hz"]), float(front_end["upper_hz"]), float(front_end["log_offset"]),
                       offset, scale, float(input_tensor["scale"]), int(input_tensor["zero_point"]))


def from_meta(meta: dict) -> AudioParams:
    """From a whole model meta (`device_info`'s dict, or `model_meta.json`)."""
    return audio_params(meta.get("audio_features") or {}, meta.get("normalize") or {}, meta["input"])
