"""The device's audio front end (firmware_templates/device_core/origami_audio.c) compiled for the host
and called through ctypes, and the host's own answer for the same PCM: shared by the front-end tests."""
from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np

from controller.firmware.render import TEMPLATES
from runtimes.audio_device import AudioParams
from runtimes.audio_features import features

CORE = TEMPLATES / "device_core"


class CParams(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("sample_rate", "frame_length", "frame_step", "fft_size",
                                                     "mel_bins", "coefficients")] + \
               [(name, ctypes.c_double) for name in ("lower_hz", "upper_hz", "log_offset")] + \
               [(name, ctypes.c_float) for name in ("norm_offset", "norm_scale", "input_scale")] + \
               [("input_zero_point", ctypes.c_int32)]


def compile_front_end(out: Path) -> ctypes.CDLL:
    """The C as the device image compiles it (-ffp-contract=off: no fused multiply-adds), for the host."""
    subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-shared",
                    "-fPIC", f"-I{CORE}", str(CORE / "origami_audio.c"), "-o", str(out), "-lm"],
                   check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(out))
    lib.origami_audio_features.restype = ctypes.c_int
    lib.origami_audio_features.argtypes = [ctypes.POINTER(CParams), ctypes.c_void_p, ctypes.c_size_t,
                                           ctypes.c_void_p, ctypes.c_size_t]  # PCM as little-endian bytes
    return lib


def device_features(lib: ctypes.CDLL, params: AudioParams, pcm: np.ndarray, out_len: int | None = None):
    """(status, int8 features) from the C code for one window of int16 PCM."""
    pcm = np.ascontiguousarray(pcm, dtype="<i2")
    width = params.coefficients or params.mel_bins
    frames = 1 + (len(pcm) - params.frame_length) // params.frame_step if len(pcm) >= params.frame_length else 0
    size = frames * width if out_len is None else out_len
    out = np.zeros(max(size, 1), dtype=np.int8)
    status = lib.origami_audio_features(ctypes.byref(CParams(*params.__dict__.values())), pcm.ctypes.data,
                                        len(pcm), out.ctypes.data, size)
    return status, out[:size].reshape(frames, width) if out_len is None and size else out[:size]


def host_features(params: AudioParams, front_end: dict, pcm: np.ndarray) -> np.ndarray:
    """The host's int8 model input for the same PCM: runtimes/audio_features.py, the dataset's
    normalisation (apply_normalisation) and the input quantization (runtimes/quantization.py)."""
    clips = (np.asarray(pcm, np.int16).astype(np.float32) / 32768.0)[None, :]
    x = features(clips, front_end)
    x = ((x - np.asarray([params.norm_offset], np.float32)) / np.asarray([params.norm_scale], np.float32))
    x = x.astype(np.float32)
    q = np.clip(np.round(x / params.input_scale) + params.input_zero_point, -128, 127).astype(np.int8)
    return q[0, :, :, 0]
