"""What a device needs to use a variant, beside its weights: the class names in output order, the
input normalisation fitted on the training split, the window, the audio front end (for a model
fed MFCCs: runtimes/audio_device.py), and the int8 quantization of the
input and output tensors. Recorded with the variant's figures; shown in the model card, baked into
the firmware (`controller.firmware.model_meta`) and written beside a Linux bundle as JSON.

On a device: x = (raw - offset) / scale per feature (last axis); for an int8 model then
q = round(x / input.scale) + input.zero_point; an int8 output y gives (y - output.zero_point) *
output.scale, the probability of `classes[i]` at index i (or the value, for regression).
"""
from __future__ import annotations

import numpy as np


def _tensor(detail: dict) -> dict:
    scale, zero_point = detail.get("quantization") or (0.0, 0)
    return {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape"]],
            "scale": float(scale), "zero_point": int(zero_point)}


def device_info(tflite: bytes, snapshot) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    prep = snapshot.preprocessing
    return {"task": snapshot.task, "classes": snapshot.classes, "sample_shape": list(snapshot.input_shape),
            "normalize": prep.get("normalize", {"method": "none"}), "window": prep.get("window"),
            "audio_features": prep.get("audio_features"),  # the front end the device computes from PCM
            "input": _tensor(interpreter.get_input_details()[0]),
            "output": _tensor(interpreter.get_output_details()[0])}
