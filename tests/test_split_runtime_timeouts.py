"""Split inference at run time over a real Mosquitto: answers match the unsplit model, lost replies
time out cleanly, late replies are dropped (never taken for another request's), bad requests are
refused without stopping the worker."""
from __future__ import annotations

import time

import numpy as np
import pytest

from specs.errors import DeviceError
from specs.errors import SplitTimeoutError
from specs.v1alpha1.split import SplitReply
from specs.v1alpha1.split import SplitRequest
from specs.v1alpha1.split import decode_request
from specs.v1alpha1.split import encode_request
from specs.v1alpha1.split import split_reply_topic
from specs.v1alpha1.split import split_request_topic
from specs.v1alpha1.split import tail_id

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def small_split():
    """A small random CNN, cut after its first convolution: (keras model, head, tail, calibration data)."""
    from controller.pipeline.tf_runtime import import_tf
    from controller.split.models import split_artifacts

    _, keras = import_tf()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        keras.layers.Flatten(name="flat"), keras.layers.Dense(3, activation="softmax", name="out")])
    data = np.random.default_rng(0).uniform(0, 1, (64, 6, 6, 1)).astype(np.float32)
    pair = split_artifacts(model, "conv", data)
    return model, pair.head_tflite, pair.tail_tflite, data


@pytest.fixture
def device(mosquitto, request):
    from wire.mqtt import MqttLink

    link = MqttLink(f"split-dev-{request.node.name[:40]}", mosquitto.url).start()
    yield link
    link.stop()


def _head(small_split, device, name, timeout_s):
    from device.split_head import HeadRunner
    from device.split_head import SplitHead
    from runtimes.tflm import measure_arena

    _, head, tail, _ = small_split
    return SplitHead(HeadRunner(head, measure_arena(head).arena_bytes), device, name, tail_id(tail),
                     timeout_s=timeout_s).start()


def test_request_round_trips_through_the_binary_encoding():
    header = SplitRequest(id="r1", device="dev-1", tail="0123456789abcdef", shape=[2, 3], dtype="int8",
                          scale=0.5, zeroPoint=-3)
    decoded, data = decode_request(encode_request(header, bytes(range(6))))
    assert decoded == header and data == bytes(range(6))
    with pytest.raises(ValueError):
        decode_request(encode_request(header, bytes(6))[:-1])
    with pytest.raises(ValueError):
        decode_request(b"garbage")


def test_lost_reply_times_out_and_a_late_one_is_dropped(small_split, device, mosquitto):
    from controller.split.worker import TailWorker

    model, _, tail, data = small_split
    head = _head(small_split, device, "lonely-board", timeout_s=0.5)
    request_id = head.send(data[0])          # no worker is serving yet: the reply is lost
    started = time.monotonic()
    with pytest.raises(SplitTimeoutError, match="no answer from a tail worker"):
        head.receive(request_id)
    assert time.monotonic() - started < 5
    assert head.timeouts == 1

    # the answer to the timed-out request arrives late: dropped, counted, never delivered
    late = SplitReply(id=request_id, tail=tail_id(tail), ok=True, outputs=[1.0, 0.0, 0.0], shape=[3])
    device.publish(split_reply_topic("lonely-board"), late.model_dump_json().encode())
    deadline = time.monotonic() + 5
    while head.late_replies == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert head.late_replies == 1

    with TailWorker(mosquitto.url, [tail], client_id="split-timeout-worker"):
        outputs = head.infer_many(data[:8], window=4)
    expected = model.predict(data[:8], verbose=0)
    assert np.array_equal(np.argmax(outputs, axis=1), np.argmax(expected, axis=1))
    assert np.abs(outputs - expected).max() < 0.1   # int8 head, float tail


def test_worker_refuses_bad_requests_and_keeps_serving(small_split, device, mosquitto):
    from controller.split.worker import TailWorker

    _, _, tail, data = small_split
    head = _head(small_split, device, "odd-board", timeout_s=5.0)
    with TailWorker(mosquitto.url, [tail], client_id="split-refusing-worker") as worker:
        device.publish(split_request_topic(tail_id(tail), "odd-board"), b"not a split request")
        wrong = SplitRequest(id="wrong-shape", device="odd-board", tail=tail_id(tail), shape=[5], dtype="int8")
        head.submit(wrong, bytes(5))
        with pytest.raises(DeviceError, match="refused request wrong-shape"):
            head.receive("wrong-shape")
        assert head.infer(data[0]).shape == (3,)
        assert worker.stats.rejected == 2 and worker.stats.served == 1


def test_origami_worker_command_serves_a_tail_file(small_split, device, mosquitto, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    model, _, tail, data = small_split
    path = tmp_path / "tail.tflite"
    path.write_bytes(tail)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "controller.cli.main", "worker", "--broker", mosquitto.url,
                             "--tail", str(path), "--client-id", "split-cli-worker"],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        lines = iter(proc.stderr.readline, "")
        assert any("serving tail" in line for line in lines)  # LiteRT may log before it
        head = _head(small_split, device, "cli-board", timeout_s=10.0)
        outputs = head.infer_many(data[:4])
        assert np.array_equal(np.argmax(outputs, axis=1), np.argmax(model.predict(data[:4], verbose=0), axis=1))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "served 4 requests" in err


def test_origami_worker_refuses_a_missing_tail_file(tmp_path, capsys):
    from controller.cli.main import main

    assert main(["worker", "--tail", str(tmp_path / "absent.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err
