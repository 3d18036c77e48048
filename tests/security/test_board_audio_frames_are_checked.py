"""A board's SAMPLES frame of audio (base64 int16 PCM, docs/serial.md) is checked by the gateway
before anything reaches MQTT: a `pcm` that is not base64, that holds fewer samples than its shape
claims, or that is not a string is refused with a `SampleRejected` Warning naming the reason (never
the payload), nothing is published on the samples topic, and the gateway goes on forwarding the
board's valid windows."""
from __future__ import annotations

import base64
import queue
import uuid

import numpy as np
import pytest

from controller.devices.signing import Signer
from device.gateway import Gateway
from device.sample_frames import pcm_body
from device.virtual.mcu_board import VirtualMCU
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Sample
from specs.v1alpha1.protocol import decode
from specs.v1alpha1.protocol import events_topic
from specs.v1alpha1.protocol import samples_topic
from wire.mqtt import MqttLink

SHORT = base64.b64encode(b"\x01\x00" * 100).decode()


@pytest.mark.parametrize("pcm, reason", [("%%% not base64 %%%", "not valid base64"),
                                         (SHORT, "holds 100 samples, not the 16000"),
                                         ({"nested": "object"}, "base64 string")])
def test_a_forged_pcm_window_is_refused_and_nothing_is_published(mosquitto, tmp_path, pcm, reason):
    signer = Signer.load_or_create(tmp_path / "controller")
    device_id = f"pcm-{uuid.uuid4().hex[:6]}"
    board = VirtualMCU(BUILTIN_PROFILES["pico"], device_id, tmp_path / "board", signer.public_key).start()
    seen: queue.Queue = queue.Queue()
    watcher = MqttLink(f"watch-{device_id}", mosquitto.url).start()
    watcher.subscribe(samples_topic(device_id), lambda topic, payload: seen.put((topic, payload)))
    watcher.subscribe(events_topic(device_id), lambda topic, payload: seen.put((topic, payload)))
    gateway = Gateway(f"gw-{device_id}", mosquitto.url, BUILTIN_PROFILES, spool=tmp_path / "spool",
                      public_key=signer.public_key)
    try:
        gateway.attach(board.port, profile="pico")
        board.send_samples({"sensor": "microphone", "rateHz": 16000, "shape": [16000, 1], "pcm": pcm})
        good = np.arange(16000, dtype=np.int16).reshape(16000, 1)
        board.send_samples(pcm_body(good, sensor="microphone", rate_hz=16000, session="after"))
        samples, events = [], []
        while not samples:                                           # until the valid window arrives
            topic, payload = seen.get(timeout=30)
            if topic == samples_topic(device_id):
                samples.append(decode(Sample, payload))
            else:
                events.append(decode(Event, payload))
        refused = [e for e in events if e.reason == "SampleRejected"]
        assert len(refused) == 1 and refused[0].type == "Warning" and reason in refused[0].message
        assert "%%%" not in refused[0].message and "AQAB" not in refused[0].message   # no payload echoed
        (sample,) = samples                                          # the forged window was never published
        assert sample.session == "after" and sample.dtype == "int16" and sample.values[:3] == [0, 1, 2]
    finally:
        gateway.close()
        watcher.stop()
        board.stop()
