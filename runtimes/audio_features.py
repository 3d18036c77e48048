"""A log-mel / MFCC audio front end in numpy: the one definition the host and the devices share.

The dataset stage turns clips into features with it, and the parameters it returns (`front_end`)
are stored in the dataset snapshot, so whatever runs the model later (a Linux board's agent, a
firmware port) computes the same features from the same numbers. It follows what `tf.signal` does
for MLPerf Tiny's KWS front end: periodic Hann window, |rfft| magnitude, an HTK-scale triangular
mel filter bank, log(x + 1e-6), then an orthonormal DCT-II scaled as `tf.signal.mfccs_from_log_mel_
spectrograms` does.

Why numpy and not TFLM's signal library ops inside the model: the installed `tflite_micro` wheel
ships the TFLM kernels of those ops but not their TensorFlow op wrappers
(`python/tflite_micro/signal` is a Bazel-built custom-op library), so a graph using them cannot be
converted here; the MCU side ports this code (it is a few loops of float arithmetic) and tests it
equal to `features()` on the same clips.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

LOG_OFFSET = 1e-6
CHUNK = 256  # clips framed at once: bounds the memory of the (clips, frames, frame length) view


def front_end(kind: str = "mfcc", sample_rate: int = 16_000, frame_ms: float = 40.0, stride_ms: float = 20.0,
              mel_bins: int = 40, coefficients: int = 10, lower_hz: float = 20.0, upper_hz: float = 4000.0) -> dict:
    """Every number that defines the features, as stored with the model."""
    frame_length = int(round(sample_rate * frame_ms / 1000.0))
    return {"kind": kind, "sample_rate": sample_rate, "frame_length": frame_length,
            "frame_step": int(round(sample_rate * stride_ms / 1000.0)),
            "fft_size": 1 << max(0, (frame_length - 1).bit_length()), "window": "hann-periodic",
            "spectrum": "magnitude", "mel_bins": mel_bins, "mel_scale": "htk", "lower_hz": lower_hz,
            "upper_hz": upper_hz, "log_offset": LOG_OFFSET,
            "coefficients": coefficients if kind == "mfcc" else None, "dct": "II-ortho" if kind == "mfcc" else None}


def frames_of(params: dict, samples: int) -> int:
    return 1 + (samples - params["frame_length"]) // params["frame_step"] if samples >= params["frame_length"] else 0


def output_shape(params: dict, samples: int) -> tuple[int, int, int]:
    """(frames, features, 1) of one clip of `samples` samples: an image of one channel."""
    width = params["coefficients"] if params["kind"] == "mfcc" else params["mel_bins"]
    return frames_of(params, samples), width, 1


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


@lru_cache(maxsize=8)
def _mel_matrix(fft_size: int, sample_rate: int, mel_bins: int, lower_hz: float, upper_hz: float) -> np.ndarray:
    """(fft_size // 2 + 1, mel_bins) triangular filters, as tf.signal.linear_to_mel_weight_matrix builds them."""
    bins = fft_size // 2 + 1
    spectrum_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2.0, bins))[1:]
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), mel_bins + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (spectrum_mel[:, None] - lower) / (centre - lower)
    falling = (upper - spectrum_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, mel_bins)), weights]).astype(np.float32)  # the DC bin weighs nothing


@lru_cache(maxsize=8)
def _dct_matrix(mel_bins: int, coefficients: int) -> np.ndarray:
    """(mel_bins, coefficients): DCT-II with tf.signal.mfccs_from_log_mel_spectrograms' scaling."""
    n = np.arange(mel_bins)
    k = np.arange(coefficients)
    basis = np.cos(math.pi / mel_bins * (n[:, None] + 0.5) * k[None, :]) * 2.0
    return (basis * np.sqrt(0.5 / mel_bins)).astype(np.float32)


@lru_cache(maxsize=8)
def _window(length: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(length) / length)).astype(np.float32)


def features(clips: np.ndarray, params: dict) -> np.ndarray:
    """(n, samples) or (n, samples, 1) audio in [-1, 1] -> (n, frames, features, 1) float32."""
    clips = np.asarray(clips, dtype=np.float32)
    if clips.ndim == 3:
        if clips.shape[2] != 1:
            raise ValueError("audio features need mono clips (one channel)")
        clips = clips[:, :, 0]
    frames = frames_of(params, clips.shape[1])
    if frames < 1:
        raise ValueError(f"clips of {clips.shape[1]} samples are shorter than one frame "
                         f"({params['frame_length']} samples)")
    mel = _mel_matrix(params["fft_size"], params["sample_rate"], params["mel_bins"], params["lower_hz"],
                      params["upper_hz"])
    window = _window(params["frame_length"])
    out = np.empty((len(clips), *output_shape(params, clips.shape[1])), dtype=np.float32)
    for start in range(0, len(clips), CHUNK):
        chunk = clips[start:start + CHUNK]
        view = np.lib.stride_tricks.sliding_window_view(chunk, params["frame_length"], axis=1)
        framed = view[:, ::params["frame_step"]][:, :frames] * window
        magnitude = np.abs(np.fft.rfft(framed, n=params["fft_size"], axis=-1)).astype(np.float32)
        log_mel = np.log(magnitude @ mel + params["log_offset"])
        if params["kind"] == "mfcc":
            log_mel = log_mel @ _dct_matrix(params["mel_bins"], params["coefficients"])
        out[start:start + len(chunk), :, :, 0] = log_mel
    return out
