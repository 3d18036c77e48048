"""Realistic virtual sensors for virtual devices: what a capture records when there is no hardware.

- `accel`: 3-axis accelerometer (g) performing a gesture (idle, shake, circle, tilt: the classes of
  the pipeline's `gestures` generator), with sensor noise and per-device calibration (bias, gain,
  a slightly tilted mounting), so windows from two devices never look the same.
- `sine`: one channel, a sine with per-device amplitude, frequency and noise.
- `camera`: 8x8 grey frames from scikit-learn's packaged digits (the label picks the digit).
- `microphone`: 16 kHz int16 PCM replaying held-out utterances (`device/microphone.py`).

Every source is seeded from the device id, so a device replays the same signal after a restart.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from specs.errors import UsageError
from specs.v1alpha1.dataset import GESTURE_CLASSES

SENSORS = ("accel", "sine", "camera", "microphone")


def device_seed(device_id: str, salt: str = "") -> int:
    return int.from_bytes(hashlib.sha256(f"{device_id}/{salt}".encode()).digest()[:8], "big")


class SignalSource(Protocol):
    sensor: str
    rate_hz: float

    def shape(self, window: int) -> list[int]:
        """Shape of one window of `window` readings."""

    def window(self, window: int, label: str | None) -> np.ndarray:
        """The next window (float32, or the source's `dtype` when it has one); `label` says what the
        device is doing, when it is known."""


@dataclass(frozen=True)
class Calibration:
    """What makes one physical accelerometer differ from another."""

    bias: np.ndarray        # (3,) g
    gain: np.ndarray        # (3,)
    mounting: np.ndarray    # (3, 3) rotation
    noise: float            # g, standard deviation

    @classmethod
    def for_device(cls, device_id: str) -> Calibration:
        rng = np.random.default_rng(device_seed(device_id, "calibration"))
        angle = rng.uniform(-0.12, 0.12)   # a few degrees off level, about x
        c, s = np.cos(angle), np.sin(angle)
        mounting = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float32)
        return cls(bias=rng.uniform(-0.05, 0.05, 3).astype(np.float32),
                   gain=rng.uniform(0.95, 1.05, 3).astype(np.float32),
                   mounting=mounting, noise=float(rng.uniform(0.01, 0.04)))


def gesture(name: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ideal acceleration (g) of one gesture over times `t` (seconds), random phase, pace and size."""
    phase, pace, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 1.25), rng.uniform(0.6, 1.4)
    out = np.zeros((len(t), 3), dtype=np.float32)
    out[:, 2] = 1.0                                        # gravity on z when lying flat
    if name == "idle":
        return out
    if name == "shake":                                    # fast back-and-forth along x
        out[:, 0] += amp * np.sin(2 * np.pi * 4.0 * pace * t + phase)
    elif name == "circle":                                 # x and y in quadrature
        out[:, 0] += 0.6 * amp * np.cos(2 * np.pi * pace * t + phase)
        out[:, 1] += 0.6 * amp * np.sin(2 * np.pi * pace * t + phase)
    elif name == "tilt":                                   # gravity turns from z towards y
        span = max(float(t[-1] - t[0]), 1e-6)
        angle = np.clip(amp * (t - t[0]) / span, 0, 1) * (np.pi / 2) * 0.8
        out[:, 1], out[:, 2] = np.sin(angle), np.cos(angle)
    else:
        raise UsageError(f"unknown gesture '{name}'; known: {', '.join(GESTURE_CLASSES)}")
    return out


class Accelerometer:
    sensor = "accel"

    def __init__(self, device_id: str, rate_hz: float = 50.0) -> None:
        self.rate_hz = rate_hz
        self.calibration = Calibration.for_device(device_id)
        self._rng = np.random.default_rng(device_seed(device_id, "accel"))

    def shape(self, window: int) -> list[int]:
        return [window, 3]

    def window(self, window: int, label: str | None) -> np.ndarray:
        name = label if label in GESTURE_CLASSES else GESTURE_CLASSES[self._rng.integers(len(GESTURE_CLASSES))]
        t = np.arange(window, dtype=np.float32) / self.rate_hz
        ideal = gesture(name, t, self._rng)
        cal = self.calibration
        measured = ideal @ cal.mounting.T * cal.gain + cal.bias
        return (measured + cal.noise * self._rng.standard_normal(measured.shape)).astype(np.float32)


class Sine:
    sensor = "sine"

    def __init__(self, device_id: str, rate_hz: float = 50.0) -> None:
        self.rate_hz = rate_hz
        rng = np.random.default_rng(device_seed(device_id, "sine"))
        self._amp, self._freq, self._noise = rng.uniform(0.8, 1.2), rng.uniform(0.5, 2.0), rng.uniform(0.01, 0.05)
        self._rng = rng
        self._t = 0.0

    def shape(self, window: int) -> list[int]:
        return [window, 1]

    def window(self, window: int, label: str | None) -> np.ndarray:
        t = self._t + np.arange(window) / self.rate_hz
        self._t = float(t[-1] + 1 / self.rate_hz)
        y = self._amp * np.sin(2 * np.pi * self._freq * t) + self._noise * self._rng.standard_normal(window)
        return y.astype(np.float32)[:, None]


class DigitsCamera:
    """Frames are 8x8 digits from scikit-learn (values 0..16) with a little sensor noise."""

    sensor = "camera"
    _images: np.ndarray | None = None
    _targets: np.ndarray | None = None

    def __init__(self, device_id: str, rate_hz: float = 1.0) -> None:
        self.rate_hz = rate_hz
        self._rng = np.random.default_rng(device_seed(device_id, "camera"))
        if DigitsCamera._images is None:
            from sklearn.datasets import load_digits

            digits = load_digits()
            DigitsCamera._images, DigitsCamera._targets = digits.images.astype(np.float32), digits.target

    def shape(self, window: int) -> list[int]:
        return [8, 8]

    def window(self, window: int, label: str | None) -> np.ndarray:
        pool = np.flatnonzero(self._targets == int(label)) if label is not None and label.isdigit() else None
        index = self._rng.choice(pool) if pool is not None and len(pool) else self._rng.integers(len(self._images))
        frame = self._images[index] + 0.3 * self._rng.standard_normal((8, 8))
        return np.clip(frame, 0, 16).astype(np.float32)


def signal_for(sensor: str, device_id: str, rate_hz: float) -> SignalSource:
    """The virtual sensor named `sensor` of device `device_id`."""
    from device.microphone import Microphone

    kinds = {"accel": Accelerometer, "sine": Sine, "camera": DigitsCamera, "microphone": Microphone}
    if sensor not in kinds:
        raise UsageError(f"virtual devices have no sensor '{sensor}'; they have {', '.join(SENSORS)}")
    return kinds[sensor](device_id, rate_hz)
