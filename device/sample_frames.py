"""The body of a SAMPLES frame (board -> gateway, docs/serial.md) and the `Sample` the gateway makes of it.

A window travels as JSON `values`, or, for audio, as `pcm`: base64 of little-endian int16 samples.
Why: one second at 16 kHz is 16,000 values, about 96 KB as a JSON list, above the serial frame's
64 KiB limit (`MAX_PAYLOAD`), while as base64 PCM it is 42.7 KB. The gateway decodes it into the
ordinary `Sample` (dtype `int16`), so the collector sees the same message from a Linux board's
microphone and from a microcontroller's. The board's body is not trusted: a `pcm` that does not
decode to exactly the shape's sample count is refused with a reason, never published.
"""
from __future__ import annotations

import base64
import binascii
import math

import numpy as np

from device.serial_frames import MAX_PAYLOAD
from specs.errors import DeviceError
from specs.v1alpha1.protocol import Sample


def pcm_body(pcm: np.ndarray, *, sensor: str, rate_hz: float, label: str | None = None,
             session: str | None = None) -> dict:
    """A SAMPLES body carrying one window of int16 PCM (samples, channels)."""
    window = np.asarray(pcm)
    if window.dtype != np.int16:
        raise ValueError(f"PCM windows are int16, not {window.dtype}")
    shape = list(window.shape) if window.ndim > 1 else [len(window), 1]
    return {"sensor": sensor, "rateHz": rate_hz, "shape": shape, "dtype": "int16", "label": label,
            "session": session, "pcm": base64.b64encode(window.astype("<i2").tobytes()).decode("ascii")}


def sample_of(device_id: str, body: dict) -> Sample:
    """The `Sample` a SAMPLES body stands for; DeviceError (with a reason a user can act on) if it is invalid."""
    values = body.get("values", [])
    shape = body.get("shape", [len(values)] if isinstance(values, list) else None)
    dtype = body.get("dtype", "float32")
    if "pcm" in body:
        values, dtype = _pcm_values(body["pcm"], shape), "int16"
    try:
        return Sample(deviceId=device_id, sensor=body.get("sensor", "sensor"), session=body.get("session"),
                      label=body.get("label"), rateHz=body.get("rateHz", 1.0), shape=shape, dtype=dtype,
                      values=values)
    except ValueError as err:
        raise DeviceError(f"SAMPLES frame from {device_id} is not a valid sensor window: "
                          f"{str(err).splitlines()[0][:200]}") from None


def _pcm_values(pcm: object, shape: object) -> list[int]:
    if not isinstance(pcm, str) or len(pcm) > MAX_PAYLOAD:
        raise DeviceError("SAMPLES frame: pcm must be a base64 string within one frame")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise DeviceError("SAMPLES frame: pcm needs a shape of positive sizes")
    try:
        raw = base64.b64decode(pcm, validate=True)
    except (binascii.Error, ValueError):
        raise DeviceError("SAMPLES frame: pcm is not valid base64") from None
    if len(raw) != 2 * math.prod(shape):
        raise DeviceError(f"SAMPLES frame: pcm holds {len(raw) // 2} samples, not the {math.prod(shape)} "
                          f"of shape {shape}")
    return np.frombuffer(raw, dtype="<i2").astype(np.int64).tolist()
