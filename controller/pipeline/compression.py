"""On-device weight compression: TFLM's LUT compressor over the clustered weight tensors of an int8 model.

Clustering leaves a few distinct values in each weight tensor, but a .tflite stores every weight as a
full int8 byte, so on the device the clustered model takes the plain int8 model's flash. TFLM's
compressor (`tflite_micro.tensorflow.lite.micro.compression`) stores such a tensor as bit-packed
indices into value tables, and inserts a DECODE operator (custom code `TFLM_DECODE`) before each
consumer that expands it into the arena at run time. Decoding is exact: the model computes what the
uncompressed one does, with less flash and more arena (the decoded tensor of the running operator).

Only TFLM runs DECODE: LiteRT does not know the operator (nor the rewritten tensors), so a compressed
variant is for TFLM boards only.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import asdict
from dataclasses import dataclass

import numpy as np

from specs.errors import StageError
from wire.logs import get_logger

log = get_logger("pipeline.compression")

DECODE_OPERATOR = "TFLM_DECODE"
DCM_BYTES = 16  # the decode metadata header ahead of the value tables
# What each compressed tensor adds besides its data: an ancillary and a decoded tensor (named after
# it), a DECODE operator, buffer alignment: 370-380 B measured on an MLP's per-channel kernels, about
# 900 B on the digits CNN's. A tensor whose saving is smaller than this is left as it is.
DECODE_OVERHEAD_BYTES = 384


@dataclass(frozen=True)
class TensorChoice:
    """How one weight tensor is (or is not) compressed, with the bytes the choice was made on."""

    name: str
    shape: list[int]
    values: int                # distinct values: per channel (the most of any channel) or per tensor
    axis: int | None           # the channel axis of the value tables; None: one table for the tensor
    bits: int | None           # index width; None when the tensor is left as it is
    bytes_before: int
    bytes_after: int           # estimate: packed indices + value tables + header
    reason: str = ""           # why it is left as it is


@dataclass(frozen=True)
class LutOutcome:
    tflite: bytes
    tensors: list[TensorChoice]

    @property
    def compressed(self) -> list[TensorChoice]:
        return [t for t in self.tensors if t.bits is not None]

    def summary(self, bits: int, before: int) -> dict:
        """What the variant's figures record about its compression."""
        return {"method": "lut", "bits": bits, "uncompressed_bytes": before, "compressed_bytes": len(self.tflite),
                "tensors": [asdict(t) for t in self.tensors]}

    def step(self, bits: int) -> str:
        return f"lut {bits}-bit ({len(self.compressed)} of {len(self.tensors)} weight tensors)"


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def _weight_inputs() -> dict[int, int]:
    """Operator -> input position of its weights (what clustering clusters: kernels, not biases)."""
    op = _schema().BuiltinOperator
    return {op.CONV_2D: 1, op.DEPTHWISE_CONV_2D: 1, op.FULLY_CONNECTED: 1, op.TRANSPOSE_CONV: 1}


def _channel_axis(tensor, opcode: int) -> int:
    """The output-channel axis, where per-channel quantization (and so a channel's values) lives."""
    quantization = tensor.quantization
    if quantization is not None and quantization.axis is not None:
        return int(quantization.axis)
    return len(tensor.shape) - 1 if opcode == _schema().BuiltinOperator.DEPTHWISE_CONV_2D else 0


def _index_bits(values: int) -> int:
    return max(1, (values - 1).bit_length())


def choose(name: str, array: np.ndarray, axis: int, max_bits: int) -> TensorChoice:
    """The smaller of one table per channel and one table per tensor, within `max_bits` (pure)."""
    size = int(array.size)
    before = size * array.itemsize
    channels = np.moveaxis(array, axis, 0)
    per_channel = max(len(np.unique(c)) for c in channels)
    per_tensor = len(np.unique(array))
    options = []
    for values, mode_axis, tables in ((per_channel, axis, channels.shape[0]), (per_tensor, None, 1)):
        bits = _index_bits(values)
        if bits <= max_bits:
            after = -(-size * bits // 8) + tables * values * array.itemsize + DCM_BYTES
            options.append((after, values, mode_axis, bits))
    shape = [int(d) for d in array.shape]
    if not options:
        return TensorChoice(name, shape, per_channel, axis, None, before, before,
                            f"{per_channel} distinct values in a channel, more than 2^{max_bits}: not clustered")
    after, values, mode_axis, bits = min(options, key=lambda o: o[0])
    if after + DECODE_OVERHEAD_BYTES >= before:
        return TensorChoice(name, shape, values, mode_axis, None, before, before,
                            f"tables, indices and the DECODE operator (about {after + DECODE_OVERHEAD_BYTES} B) "
                            f"would not be smaller than the tensor")
    return TensorChoice(name, shape, values, mode_axis, bits, before, after)


def lut_compress(tflite: bytes, max_bits: int) -> LutOutcome:
    """The model with every clustered weight tensor LUT-compressed behind DECODE operators.

    A tensor whose channels hold at most 2^max_bits values gets the narrowest index that holds
    them; others (or ones where tables would outweigh the saving) stay as they are. Raises
    StageError when no tensor can be compressed or the compressor refuses the model.
    """
    from tflite_micro.tensorflow.lite.micro.compression import compress
    from tflite_micro.tensorflow.lite.micro.compression import model_editor
    from tflite_micro.tensorflow.lite.micro.compression import spec

    model = model_editor.read(tflite)
    weight_inputs = _weight_inputs()
    choices: list[TensorChoice] = []
    specs: list = []
    seen: set[tuple[int, int]] = set()
    for g, subgraph in enumerate(model.subgraphs):
        index = {id(t): i for i, t in enumerate(subgraph.tensors)}
        for operator in subgraph.operators:
            position = weight_inputs.get(operator.opcode)
            if position is None or position >= len(operator.inputs):
                continue
            tensor = operator.inputs[position]
            if tensor is None or tensor.buffer is None or not tensor.buffer.data:
                continue  # absent, or computed at run time
            coordinates = (g, index[id(tensor)])
            if coordinates in seen:
                continue
            seen.add(coordinates)
            choice = choose(tensor.name or f"tensor {coordinates[1]}", tensor.array,
                            _channel_axis(tensor, operator.opcode), max_bits)
            choices.append(choice)
            if choice.bits is not None:
                mode = spec.PerTensor() if choice.axis is None else spec.PerChannel(axis=choice.axis)
                specs.append(spec.Tensor(subgraph=g, tensor=coordinates[1], compression=[
                    spec.LookUpTableCompression(index_bitwidth=choice.bits, mode=mode)]))
    if not specs:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in choices) or "the model has no weight tensors"
        raise StageError(f"LUT compression ({max_bits} bits) found no weight tensor to compress ({reasons})")
    # The compressor warns (warnings) and prints (stderr) about its choices; they go to the log instead.
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(chatter):
            warnings.simplefilter("always")
            compressed = bytes(compress(tflite, specs))
    except Exception as err:  # CompressionError, or what the model editor raises on an odd model
        raise StageError(f"TFLM's LUT compressor refused the model: {err}") from err
    for note in [str(w.message) for w in caught] + chatter.getvalue().splitlines():
        if note.strip():
            log.info("lut compressor note", extra={"note": note[:300]})
    log.info("lut compressed", extra={"bits": max_bits, "before": len(tflite), "after": len(compressed),
                                      "tensors": len(specs), "of": len(choices)})
    return LutOutcome(tflite=compressed, tensors=choices)


def decode_operators(operators: list[str]) -> bool:
    """True when a model's operator list (as `measure_variant` records it) holds DECODE."""
    return f"custom:{DECODE_OPERATOR}" in operators
