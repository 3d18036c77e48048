"""Subprocess side of the TFLM runtime: the `tflite-micro` interpreter may segfault, so it runs here.

Run as `python -m runtimes.tflm_worker MODE MODEL_PATH RESULT_FD [...]`:

- `probe`: read arena sizes (one per line) on stdin; for each, build an interpreter with that
  arena and invoke it once on zeros; answer `{"arena": n, "ok": bool, "error": str}` as one line on
  RESULT_FD. A crash kills only this process; the parent records the size it was trying.
- `report`: build at the given arena, invoke once, then `print_allocations()` (C writes it to
  stdout/stderr, which the parent captures).
- `run`: load inputs from an .npy file, run every sample, save the outputs as .npy.

Imports nothing from TensorFlow, so it starts in a fraction of a second.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from runtimes.quantization import dequantize_output
from runtimes.quantization import quantize_input


def _interpreter(model: bytes, arena: int):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena)


def _invoke_zeros(interp) -> None:
    details = interp.get_input_details(0)
    interp.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
    interp.invoke()


def _probe(model: bytes, out) -> None:
    for line in sys.stdin:
        arena = int(line)
        try:
            _invoke_zeros(_interpreter(model, arena))
            answer = {"arena": arena, "ok": True, "error": ""}
        except RuntimeError as err:
            answer = {"arena": arena, "ok": False, "error": str(err)}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def _report(model: bytes, arena: int) -> None:
    interp = _interpreter(model, arena)
    _invoke_zeros(interp)
    interp.print_allocations()



def _run(model: bytes, arena: int, inputs_path: str, outputs_path: str, dequantize: bool, out) -> None:
    try:
        interp = _interpreter(model, arena)
    except RuntimeError as err:
        out.write(json.dumps({"ok": False, "error": str(err)}) + "\n")
        return
    details = interp.get_input_details(0)
    out_details = interp.get_output_details(0)
    x = quantize_input(np.load(inputs_path), details)
    shape = tuple(int(d) for d in details["shape"])
    results = []
    for i in range(len(x)):
        interp.set_input(x[i].reshape(shape), 0)
        interp.invoke()
        y = np.array(interp.get_output(0))
        results.append(dequantize_output(y, out_details) if dequantize else y)
    outputs = np.concatenate(results, axis=0) if results else np.zeros((0,), np.float32)
    np.save(outputs_path, outputs)
    out.write(json.dumps({"ok": True, "error": ""}) + "\n")


def main(argv: list[str]) -> int:
    mode, model_path, fd = argv[0], argv[1], int(argv[2])
    with open(model_path, "rb") as f:
        model = f.read()
    with os.fdopen(fd, "w") as out:
        if mode == "probe":
            _probe(model, out)
        elif mode == "report":
            _report(model, int(argv[3]))
            out.write(json.dumps({"ok": True}) + "\n")
        elif mode == "run":
            _run(model, int(argv[3]), argv[4], argv[5], argv[6] == "1", out)
        else:
            raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
