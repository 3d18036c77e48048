"""Seeded synthetic data: the same (samples, seed, noise) always gives the same arrays."""
from __future__ import annotations

import numpy as np

from specs.v1alpha1.dataset import GENERATED_SAMPLE_SHAPES
from specs.v1alpha1.dataset import GESTURE_CLASSES

GESTURE_WINDOW = GENERATED_SAMPLE_SHAPES["gestures"][0]  # at a nominal 50 Hz: about 1.3 s of 3-axis acceleration


def sine(samples: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """x uniform on [0, 2π], y = sin(x) + Gaussian noise: the TFLM "hello world" regression."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2 * np.pi, size=(samples, 1)).astype(np.float32)
    y = (np.sin(x[:, 0]) + rng.normal(0.0, noise, size=samples)).astype(np.float32)
    return x, y, None


def gestures(samples: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """3-axis accelerometer windows (in g) of four gestures, each with random phase, rate and amplitude."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, GESTURE_WINDOW / 50.0, GESTURE_WINDOW, dtype=np.float32)
    labels = rng.integers(0, len(GESTURE_CLASSES), size=samples)
    x = np.empty((samples, GESTURE_WINDOW, 3), dtype=np.float32)
    for i, label in enumerate(labels):
        phase = rng.uniform(0, 2 * np.pi)
        rate = rng.uniform(0.8, 1.25)
        amp = rng.uniform(0.6, 1.4)
        gravity = np.array([0.0, 0.0, 1.0], dtype=np.float32)
        name = GESTURE_CLASSES[label]
        if name == "idle":
            window = np.tile(gravity, (GESTURE_WINDOW, 1)) + 0.02 * rng.standard_normal((GESTURE_WINDOW, 3))
        elif name == "shake":  # fast back-and-forth along x
            window = np.tile(gravity, (GESTURE_WINDOW, 1))
            window[:, 0] += amp * np.sin(2 * np.pi * 4.0 * rate * t + phase)
        elif name == "circle":  # x and y in quadrature
            window = np.tile(gravity, (GESTURE_WINDOW, 1))
            window[:, 0] += 0.6 * amp * np.cos(2 * np.pi * 1.0 * rate * t + phase)
            window[:, 1] += 0.6 * amp * np.sin(2 * np.pi * 1.0 * rate * t + phase)
        else:  # tilt: gravity slowly rotates from z towards y
            angle = np.clip(amp * t / t[-1], 0, 1) * (np.pi / 2) * 0.8
            window = np.stack([np.zeros_like(t), np.sin(angle), np.cos(angle)], axis=1)
        x[i] = window + noise * rng.standard_normal((GESTURE_WINDOW, 3))
    return x, labels.astype(np.int64), list(GESTURE_CLASSES)


GENERATORS = {"sine": sine, "gestures": gestures}
