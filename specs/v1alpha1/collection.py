"""Data collection messages: batched sensor windows (device -> collector) and collection requests
(controller -> device). Documented in docs/collection.md. Nothing here does I/O.

`SampleBatch` extends the protocol's `Sample` (same topic, `samples_topic`): a reader that only
knows `Sample` still parses a batch (unknown fields are ignored), and a plain `Sample` (the
gateway's, one window) is a batch of one. Several windows per message because the cost of MQTT in
Python is per message, not per byte (docs/protocol.md, "Why few, large messages").
"""
from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from specs.v1alpha1.protocol import DeviceId
from specs.v1alpha1.protocol import Message
from specs.v1alpha1.protocol import Sample
from specs.v1alpha1.protocol import device_topic
from specs.v1alpha1.protocol import now

# Limits the collector enforces; a message beyond them is rejected with a reason, never stored.
MAX_PAYLOAD_BYTES = 512 * 1024       # one samples message on the wire
MAX_WINDOWS_PER_BATCH = 256
MAX_VALUES_PER_WINDOW = 64 * 1024    # e.g. a 128x128x3 image frame is 49,152 values
MAX_SHAPE_RANK = 4

# Audio: a sensor of these names sends int16 PCM, a fraction of full scale (Q15); the pipeline reads it
# divided by PCM16_FULL_SCALE, in [-1, 1) like generated speech and WAV files (docs/collection.md).
AUDIO_SENSORS = ("microphone",)
PCM16_FULL_SCALE = 32768.0

Label = Annotated[str, Field(min_length=1, max_length=63)]


class SampleBatch(Sample):
    """`windows` sensor windows of the same sensor, rate, shape, session and label.

    `shape` is the shape of one window; `values` holds `windows * prod(shape)` numbers, window
    after window. `seq` grows by one per batch a capture publishes (from 0 when it starts, `boot`
    tells captures apart), so the collector can tell retries from new data and count gaps.
    """

    windows: int = Field(default=1, ge=1)
    windowTs: list[float] = Field(default_factory=list)   # start time of each window (default: ts + i * period)
    seq: int | None = Field(default=None, ge=0)
    boot: str | None = Field(default=None, max_length=64)
    fleet: str | None = Field(default=None, max_length=63)  # set when the capture answers a CollectRequest
    campaign: str | None = Field(default=None, max_length=128)

    def window_size(self) -> int:
        return math.prod(self.shape)

    def window_times(self) -> list[float]:
        if len(self.windowTs) == self.windows:
            return list(self.windowTs)
        period = (self.shape[0] / self.rateHz) if self.shape else 0.0
        return [round(self.ts + i * period, 6) for i in range(self.windows)]


class CollectRequest(Message):
    """Retained on `collect_topic`: record `sensor` at `rateHz` for `durationSeconds`, in windows of
    `window` readings, tagging every window with `session` and `label`. `campaign` identifies the
    request: a device runs each campaign once, even when the retained message arrives again."""

    deviceId: DeviceId
    campaign: str = Field(min_length=1, max_length=128)
    fleet: str | None = Field(default=None, max_length=63)
    sensor: str = Field(min_length=1, max_length=63)
    rateHz: float = Field(gt=0)
    durationSeconds: float = Field(gt=0)
    window: int = Field(default=64, gt=0, le=MAX_VALUES_PER_WINDOW)
    label: Label | None = None
    session: str | None = Field(default=None, max_length=63)
    issuedAt: float = Field(default_factory=now)


def collect_topic(device_id: str) -> str:
    """Controller -> device, retained: a `CollectRequest` (empty payload: nothing to collect)."""
    return device_topic(device_id, "collect")
