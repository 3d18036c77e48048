"""LiteRT (the TFLite interpreter), as the pipeline measures a variant and a Linux board runs it."""
from __future__ import annotations

import numpy as np

from runtimes.quantization import dequantize_output
from runtimes.quantization import quantize_input


def run_litert(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    """Every sample through the LiteRT (TFLite) interpreter, one at a time as a device would."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    details_in = {"dtype": inp["dtype"], "quantization_parameters": inp["quantization_parameters"]}
    details_out = {"dtype": out["dtype"], "quantization_parameters": out["quantization_parameters"]}
    x = quantize_input(np.asarray(inputs, dtype=np.float32), details_in)
    results = []
    for sample in x:
        interpreter.set_tensor(inp["index"], sample.reshape(inp["shape"]))
        interpreter.invoke()
        results.append(dequantize_output(np.array(interpreter.get_tensor(out["index"])), details_out))
    return np.concatenate(results)

