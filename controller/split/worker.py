"""`origami worker`: serve split tails over MQTT with LiteRT.

For every tail it holds, the worker subscribes to `origami/v1/devices/+/split/{tail}/request`,
dequantizes the crossing tensor with the scale and zero point the device sent, runs the tail on LiteRT
(`ai_edge_litert.interpreter`) and answers on the reply topic of the device whose request topic the
request came on: the broker vouches for that one (a device may write only in its own topic tree),
not for the device a payload names, so a request naming another device is dropped. paho's network
thread only queues requests; one thread runs the interpreters, so a slow tail never stalls the link.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from specs.errors import StageError
from specs.v1alpha1.split import SplitReply
from specs.v1alpha1.split import SplitRequest
from specs.v1alpha1.split import decode_request
from specs.v1alpha1.split import split_reply_topic
from specs.v1alpha1.split import split_request_topic
from specs.v1alpha1.split import tail_id
from wire import topics
from wire.logs import get_logger
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink

log = get_logger("split.worker")
NUMPY_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "float32": np.float32}


class TailRunner:
    """One tail model on a LiteRT interpreter; float input, float output."""

    def __init__(self, tflite: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.tail = tail_id(tflite)
        self._interpreter = Interpreter(model_content=tflite)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        if np.dtype(self._input["dtype"]) != np.float32:
            raise StageError(f"tail {self.tail} takes {np.dtype(self._input['dtype'])} input; "
                             "the worker serves float tails (build_split converts them so)")
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])

    def run(self, request: SplitRequest, data: bytes) -> np.ndarray:
        tensor = np.frombuffer(data, dtype=NUMPY_DTYPES[request.dtype]).astype(np.float32)
        if request.scale > 0:
            tensor = (tensor - request.zeroPoint) * request.scale
        if tensor.size != int(np.prod(self.input_shape)):
            raise ValueError(f"tail {self.tail} takes shape {list(self.input_shape)}, "
                             f"the request carries {tensor.size} values")
        self._interpreter.set_tensor(self._input["index"], tensor.reshape(1, *self.input_shape))
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output["index"]), dtype=np.float32)


@dataclass
class WorkerStats:
    served: int = 0
    rejected: int = 0


class TailWorker:
    """Serve `tails` (tflite bytes) on the broker at `url` until `stop()`."""

    def __init__(self, url: str | BrokerConnection, tails: list[bytes], client_id: str = "origami-worker", *,
                 username: str | None = None, password: str | None = None) -> None:
        if not tails:
            raise StageError("the worker has no tail model to serve; pass at least one tail .tflite")
        self.runners = {runner.tail: runner for runner in (TailRunner(t) for t in tails)}
        self.link = MqttLink(client_id, url, username=username, password=password)
        self.stats = WorkerStats()
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=f"{client_id}-tails", daemon=True)

    def start(self, timeout: float = 10.0) -> TailWorker:
        self._thread.start()
        self.link.start(timeout)
        for tail in self.runners:
            self.link.subscribe(split_request_topic(tail, "+"), self._enqueue)
        log.info("worker serving", extra={"tails": sorted(self.runners), "broker": self.link.address.host})
        return self

    def stop(self) -> None:
        self.link.stop()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def __enter__(self) -> TailWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _enqueue(self, topic: str, payload: bytes) -> None:
        self._queue.put((topic, payload))

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            self._answer(*item)

    def _answer(self, topic: str, payload: bytes) -> None:
        ref = topics.parse(topic)
        if ref is None:
            return
        try:
            request, data = decode_request(payload)
            if request.device != ref.device_id:
                raise ValueError(f"the request names device {request.device}, not its sender")
        except ValueError as err:  # answer nobody: a payload is not a reason to write to any device
            self.stats.rejected += 1
            log.warning("split request dropped", extra={"device": ref.device_id, "error": str(err)[:300]})
            return
        started = time.perf_counter()
        runner = self.runners.get(request.tail)
        try:
            if runner is None:
                raise ValueError(f"this worker does not serve tail {request.tail}")
            outputs = runner.run(request, data)
            reply = SplitReply(id=request.id, tail=request.tail, ok=True, outputs=outputs.ravel().tolist(),
                               shape=list(outputs.shape[1:]), sentAt=request.sentAt,
                               workerMs=(time.perf_counter() - started) * 1000)
            self.stats.served += 1
        except ValueError as err:
            self.stats.rejected += 1
            reply = SplitReply(id=request.id, tail=request.tail, ok=False, error=str(err)[:1024],
                               sentAt=request.sentAt)
        self.link.publish(split_reply_topic(ref.device_id), reply.model_dump_json().encode(), qos=1)
