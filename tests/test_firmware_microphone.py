"""The emulated Nano 33's microphone (firmware_templates/qemu-device/origami_microphone.c): PCM the
host appends to the board's microphone file comes back as SAMPLES frames of one second each, streamed
by the firmware piece by piece, which the gateway turns into the `Sample` it publishes
(device/sample_frames.py, as device/gateway/bridge.py does)."""
from __future__ import annotations

import queue

import numpy as np

from device.gateway.emulated import QemuBoard
from device.gateway.serial_link import BoardLink
from device.sample_frames import sample_of
from device.serial_frames import FrameType
from tests.firmware_rig import NANO33_MACHINE


def test_appended_pcm_comes_back_as_one_second_sample_windows(ota_image, tmp_path):
    rng = np.random.default_rng(3)
    pcm = np.clip(rng.standard_normal(40000) * 6000, -32768, 32767).astype("<i2")  # 2.5 s
    windows: queue.Queue = queue.Queue()
    board = QemuBoard(NANO33_MACHINE, ota_image.elf, tmp_path / "board", "nano33-mic")
    board.start()
    link = BoardLink(board.port, on_frame=lambda f: windows.put(f) if f.type is FrameType.SAMPLES else None)
    try:
        link.query()  # the port is open: nothing the board streams from now on is lost
        board.hear(pcm[:10000].tobytes())
        board.hear(pcm[10000:].tobytes())  # arrives in two writes, as sound does
        first, second = windows.get(timeout=30), windows.get(timeout=30)
        hello = link.query()[0]
    finally:
        link.close()
        board.stop()
    assert windows.empty()  # the last half second is no complete window
    for i, frame in enumerate((first, second)):
        sample = sample_of(hello["deviceId"], frame.json())
        assert sample.dtype == "int16" and sample.shape == [16000, 1] and sample.rateHz == 16000
        assert sample.sensor == "microphone" and sample.session == "qemu-microphone"
        assert np.array_equal(np.asarray(sample.values), pcm[16000 * i:16000 * (i + 1)])
