"""Float <-> quantized tensors with a tensor's own scale and zero point, as every runtime here needs."""
from __future__ import annotations

import numpy as np


def quantize_input(x: np.ndarray, details: dict) -> np.ndarray:
    dtype = np.dtype(details["dtype"])
    if x.dtype == dtype or not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale = float(details["quantization_parameters"]["scales"][0])
    zero = int(details["quantization_parameters"]["zero_points"][0])
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, details: dict) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        return y.astype(np.float32)
    scales = details["quantization_parameters"]["scales"]
    if len(scales) == 0:
        return y.astype(np.float32)
    zero = int(details["quantization_parameters"]["zero_points"][0])
    return ((y.astype(np.float32) - zero) * float(scales[0])).astype(np.float32)
