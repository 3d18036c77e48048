"""The device half of a split: run the head on TFLM, send the crossing tensor, wait for the tail's answer.

The head runs on the `tflite-micro` interpreter with the board's arena. That interpreter segfaults
when its arena is too small, so the arena is first proven in a subprocess (run_tflm) and only then
is an in-process interpreter built with exactly that model and arena. Every request carries an id;
a reply that does not come within the timeout raises SplitTimeoutError, and a reply that comes
later is dropped and counted (`late_replies`), never mistaken for the answer to another request.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from specs.errors import DeviceError
from specs.errors import SplitTimeoutError
from specs.v1alpha1.split import SplitReply
from specs.v1alpha1.split import SplitRequest
from specs.v1alpha1.split import encode_request
from specs.v1alpha1.split import split_reply_topic
from specs.v1alpha1.split import split_request_topic
from wire.logs import get_logger
from wire.mqtt import MqttLink

log = get_logger("split.head")


@dataclass
class _Pending:
    done: threading.Event
    reply: SplitReply | None = None


class HeadRunner:
    """The head model on an in-process TFLM interpreter, after its arena was proven in a subprocess."""

    def __init__(self, head_tflite: bytes, arena_bytes: int) -> None:
        from tflite_micro import runtime

        from runtimes.tflm import run_tflm

        details = _input_details(head_tflite)
        run_tflm(head_tflite, np.zeros((1, *details), np.float32), arena_bytes)  # raises if it does not fit
        self._interpreter = runtime.Interpreter.from_bytes(head_tflite, arena_size=arena_bytes)
        self._input = self._interpreter.get_input_details(0)
        self._output = self._interpreter.get_output_details(0)
        quant = self._output["quantization_parameters"]
        self.scale = float(quant["scales"][0]) if len(quant["scales"]) else 0.0
        self.zero_point = int(quant["zero_points"][0]) if len(quant["zero_points"]) else 0
        self.dtype = np.dtype(self._output["dtype"]).name

    def run(self, sample: np.ndarray) -> np.ndarray:
        """One sample (no batch axis) in, the crossing tensor (batch axis dropped) out."""
        from runtimes.quantization import quantize_input

        shape = tuple(int(d) for d in self._input["shape"])
        self._interpreter.set_input(quantize_input(np.asarray(sample, np.float32), self._input).reshape(shape), 0)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_output(0))[0]


def _input_details(tflite: bytes) -> tuple[int, ...]:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    graph = schema.Model.GetRootAsModel(bytearray(tflite), 0).Subgraphs(0)
    return tuple(int(d) for d in graph.Tensors(graph.Inputs(0)).ShapeAsNumpy()[1:])


class SplitHead:
    """A device's side of split inference over an MqttLink that is already started."""

    def __init__(self, runner: HeadRunner, link: MqttLink, device_id: str, tail: str,
                 timeout_s: float = 2.0) -> None:
        self.runner = runner
        self.link = link
        self.device_id = device_id
        self.tail = tail
        self.timeout_s = timeout_s
        self.late_replies = 0
        self.timeouts = 0
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._subscribed = False

    def start(self) -> SplitHead:
        granted = self.link.subscribe(split_reply_topic(self.device_id), self._on_reply)
        if granted == 0x80:
            raise DeviceError(f"{self.device_id}: the broker refused the subscription to "
                              f"{split_reply_topic(self.device_id)}; check the device's ACL")
        self._subscribed = True
        return self

    def send(self, sample: np.ndarray) -> str:
        """Run the head on one sample and publish its crossing tensor; returns the request id."""
        if not self._subscribed:
            self.start()
        crossing = self.runner.run(sample)
        request = SplitRequest(id=uuid.uuid4().hex, device=self.device_id, tail=self.tail,
                               shape=list(crossing.shape), dtype=self.runner.dtype, scale=self.runner.scale,
                               zeroPoint=self.runner.zero_point, sentAt=round(time.time(), 6))
        return self.submit(request, crossing.tobytes())

    def submit(self, request: SplitRequest, tensor: bytes) -> str:
        """Publish an already-built request and expect its reply (`send` is this plus the head)."""
        with self._lock:
            self._pending[request.id] = _Pending(threading.Event())
        self.link.publish(split_request_topic(request.tail, self.device_id), encode_request(request, tensor), qos=1)
        return request.id

    def receive(self, request_id: str, timeout_s: float | None = None) -> np.ndarray:
        """The tail's output for `request_id`; SplitTimeoutError when no reply comes in time."""
        with self._lock:
            pending = self._pending.get(request_id)
        if pending is None:
            raise KeyError(request_id)
        answered = pending.done.wait(self.timeout_s if timeout_s is None else timeout_s)
        with self._lock:
            self._pending.pop(request_id, None)
        if not answered or pending.reply is None:
            self.timeouts += 1
            raise SplitTimeoutError(f"{self.device_id}: no answer from a tail worker for request {request_id} "
                                    f"within {self.timeout_s:.1f} s; check that `origami worker` serves tail "
                                    f"{self.tail} on this broker")
        reply = pending.reply
        if not reply.ok:
            raise DeviceError(f"{self.device_id}: the tail worker refused request {request_id}: {reply.error}")
        return np.asarray(reply.outputs, dtype=np.float32).reshape(reply.shape or [-1])

    def infer(self, sample: np.ndarray) -> np.ndarray:
        return self.receive(self.send(sample))

    def infer_many(self, samples: np.ndarray, window: int = 16) -> np.ndarray:
        """Every sample, with up to `window` requests in flight (as a device streaming windows would)."""
        outputs: list[np.ndarray] = []
        in_flight: list[str] = []
        for sample in samples:
            in_flight.append(self.send(sample))
            if len(in_flight) >= window:
                outputs.append(self.receive(in_flight.pop(0)))
        outputs.extend(self.receive(request_id) for request_id in in_flight)
        return np.stack(outputs)

    def _on_reply(self, topic: str, payload: bytes) -> None:
        reply = SplitReply.model_validate_json(payload)
        with self._lock:
            pending = self._pending.get(reply.id)
            if pending is None:  # timed out already, or never ours
                self.late_replies += 1
                log.info("late or unknown split reply dropped", extra={"device": self.device_id, "id": reply.id})
                return
            pending.reply = reply
        pending.done.set()
