"""The operators a .tflite model uses, as TFLM `MicroMutableOpResolver` registrations.

Read from the flatbuffer with the schema that ships with tflite-micro (no TensorFlow import).
"""
from __future__ import annotations

from dataclasses import dataclass

from specs.errors import StageError

# Where TFLM's `Add...` method name is not the CamelCase of the builtin operator's name.
_RESOLVER_NAME_EXCEPTIONS = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "BATCH_MATMUL": "AddBatchMatmul",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
}


# Custom operators TFLM itself implements: custom code -> the kernel's name (kernels/<lower>.cc,
# registered by Add<Name>). DECODE expands LUT-compressed weights (controller.pipeline.compression).
TFLM_CUSTOM_KERNELS = {"TFLM_DECODE": "DECODE"}


@dataclass(frozen=True)
class ModelOperators:
    builtin: tuple[str, ...]  # schema names, e.g. ("FULLY_CONNECTED", "SOFTMAX"), in first-use order
    custom: tuple[str, ...]   # custom codes TFLM cannot resolve
    tflm_custom: tuple[str, ...] = ()  # custom codes TFLM has kernels for (TFLM_CUSTOM_KERNELS)

    @property
    def kernels(self) -> tuple[str, ...]:
        """What a TFLM build compiles and registers: the builtin operators, then TFLM's custom ones."""
        return self.builtin + tuple(TFLM_CUSTOM_KERNELS[c] for c in self.tflm_custom)

    @property
    def resolver_calls(self) -> tuple[str, ...]:
        return tuple(resolver_method(name) for name in self.kernels)


def resolver_method(builtin_name: str) -> str:
    """FULLY_CONNECTED -> AddFullyConnected, CONV_2D -> AddConv2D, MAX_POOL_2D -> AddMaxPool2D."""
    if builtin_name in _RESOLVER_NAME_EXCEPTIONS:
        return _RESOLVER_NAME_EXCEPTIONS[builtin_name]
    parts = []
    for token in builtin_name.split("_"):
        parts.append(token.upper() if token[:1].isdigit() else token.capitalize())
    return "Add" + "".join(parts)


def model_operators(tflite: bytes) -> ModelOperators:
    """Every operator the model's subgraphs invoke (not merely declare), in first-use order."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    if len(tflite) < 8 or tflite[4:8] != b"TFL3":
        raise StageError("not a TensorFlow Lite flatbuffer (missing the TFL3 identifier); pass a .tflite file")
    model = schema.Model.GetRootAsModel(bytearray(tflite), 0)
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    builtin: list[str] = []
    custom: list[str] = []
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for o in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            # Since schema v3a the real code sits in BuiltinCode; old files only fill the deprecated byte.
            value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if value == schema.BuiltinOperator.CUSTOM:
                name = (code.CustomCode() or b"").decode()
                if name not in custom:
                    custom.append(name)
                continue
            name = names.get(value, f"BUILTIN_{value}")
            if name not in builtin:
                builtin.append(name)
    return ModelOperators(builtin=tuple(builtin), custom=tuple(c for c in custom if c not in TFLM_CUSTOM_KERNELS),
                          tflm_custom=tuple(c for c in custom if c in TFLM_CUSTOM_KERNELS))
