"""Health check of an installed model: load it with LiteRT and run one probe inference."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    reason: str = ""
    latency_ms: float | None = None


def litert_probe(model_path: Path, max_latency_ms: float | None = None) -> HealthResult:
    """Load with `ai_edge_litert`, feed a zero input of the model's own shape and type, check the
    outputs are finite. Any failure is a reason, never an exception: the caller rolls back."""
    try:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        return HealthResult(False, f"LiteRT is not installed on this device ({err}); pip install ai-edge-litert")
    try:
        interpreter = Interpreter(model_path=str(model_path))
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
        start = time.perf_counter()
        interpreter.invoke()
        latency = (time.perf_counter() - start) * 1000
        for detail in interpreter.get_output_details():
            output = interpreter.get_tensor(detail["index"])
            if output.dtype.kind == "f" and not np.isfinite(output).all():
                return HealthResult(False, f"probe inference produced non-finite values in '{detail['name']}'", latency)
    except Exception as err:  # LiteRT raises ValueError/RuntimeError for unloadable models
        return HealthResult(False, f"model does not load or run with LiteRT: {str(err).strip()[:300]}")
    if max_latency_ms is not None and latency > max_latency_ms:
        return HealthResult(False, f"probe inference took {latency:.1f} ms, above the {max_latency_ms:.1f} ms limit",
                            latency)
    return HealthResult(True, "", latency)
