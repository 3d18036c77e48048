"""Run models on TensorFlow Lite Micro and measure the tensor arena they really need.

The `tflite-micro` interpreter segfaults (or fails allocation) when its arena is too
small, so every call goes through a subprocess (`tflm_worker`). The arena is found by
bisection over real interpreter constructions plus one invoke, and cross-checked
against the interpreter's own allocation report (`print_allocations()`).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specs.errors import StageError
from wire.logs import get_logger

log = get_logger("pipeline.tflm")

ALIGNMENT = 16  # TFLM aligns arena buffers to 16 bytes; the start of a malloc'd arena may shift by as much
MAX_ARENA = 256 * 1024 * 1024
PROBE_TIMEOUT_S = 120.0
_REPORT_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_REPORT_LINE = re.compile(r"\[RecordingMicroAllocator\][^\n]*")


@dataclass(frozen=True)
class ArenaMeasurement:
    """The smallest working arena, rounded up to the alignment, and what TFLM says it used."""

    arena_bytes: int          # smallest size that allocates and invokes, rounded up to ALIGNMENT
    smallest_working: int     # the exact smallest size found by bisection
    reported_bytes: int       # "Arena allocation total" from print_allocations()
    probes: int               # interpreter constructions tried
    crashes: int              # probes that killed the worker (segfaults)
    report: str               # the allocation report lines

    def to_dict(self) -> dict:
        return asdict(self)


class _ProbeWorker:
    """A worker process that answers "does arena N work?"; restarted after a crash."""

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self.proc: subprocess.Popen | None = None
        self.results = None
        self.crashes = 0
        self.probes = 0
        self.log_path = model_path + ".stderr"

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtimes.tflm_worker", "probe", self.model_path, str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log(),
            pass_fds=(write_fd,), text=True, cwd=_project_root(), env=_worker_env())
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "r")

    def works(self, arena: int) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.probes += 1
        assert self.proc is not None and self.proc.stdin is not None and self.results is not None
        try:
            self.proc.stdin.write(f"{arena}\n")
            self.proc.stdin.flush()
            line = self.results.readline()
        except BrokenPipeError:
            line = ""
        if not line:  # the interpreter crashed on this size: a segfault means "too small"
            self.crashes += 1
            self.close()
            return False
        return bool(json.loads(line)["ok"])

    def _log(self):
        if getattr(self, "_log_file", None) is None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115  (kept for the worker's life)
        return self._log_file

    def unsupported(self) -> bool:
        """True when the last failure was an operator TFLM cannot prepare, not a short arena."""
        message = self.last_message()
        return "failed to prepare" in message or "Didn't find op" in message

    def last_message(self) -> str:
        """The interpreter's last complaint (TFLM prints why it failed to stderr)."""
        try:
            lines = [line for line in Path(self.log_path).read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return " / ".join(lines[-3:])

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                try:
                    self.proc.stdin.close()
                except BrokenPipeError:
                    pass
            try:
                self.proc.wait(timeout=PROBE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.results is not None:
            self.results.close()
        if getattr(self, "_log_file", None) is not None:
            self._log_file.close()
            self._log_file = None
        self.proc, self.results = None, None


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[1])


def _worker_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = _project_root() + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _model_file(tflite: bytes, directory: str) -> str:
    path = os.path.join(directory, "model.tflite")
    with open(path, "wb") as f:
        f.write(tflite)
    return path


def allocation_report(tflite: bytes, arena_bytes: int) -> tuple[int, str]:
    """(total bytes, report text) from TFLM's RecordingMicroAllocator at a working arena size."""
    with tempfile.TemporaryDirectory(prefix="origami-tflm-") as tmp:
        path = _model_file(tflite, tmp)
        read_fd, write_fd = os.pipe()
        proc = subprocess.run(
            [sys.executable, "-m", "runtimes.tflm_worker", "report", path, str(write_fd), str(arena_bytes)],
            capture_output=True, text=True, pass_fds=(write_fd,), cwd=_project_root(), env=_worker_env(),
            timeout=PROBE_TIMEOUT_S)
        os.close(write_fd)
        with os.fdopen(read_fd) as r:
            r.read()
    text = proc.stdout + proc.stderr
    match = _REPORT_TOTAL.search(text)
    if proc.returncode != 0 or not match:
        raise StageError(f"TFLM could not run the model with a {arena_bytes}-byte arena "
                         f"(exit {proc.returncode}): {text.strip()[-500:]}")
    return int(match.group(1)), "\n".join(_REPORT_LINE.findall(text))


def measure_arena(tflite: bytes) -> ArenaMeasurement:
    """Find the smallest tensor arena with which TFLM allocates and invokes the model.

    Bisection over real interpreter constructions in a subprocess (a crash counts as "too small").
    """
    with tempfile.TemporaryDirectory(prefix="origami-tflm-") as tmp:
        worker = _ProbeWorker(_model_file(tflite, tmp))
        try:
            high = max(16 * 1024, len(tflite) * 4)
            while not worker.works(high):
                if high >= MAX_ARENA or worker.unsupported():
                    raise StageError(
                        f"TFLM cannot run this model with a {high}-byte arena "
                        f"(TFLM says: {worker.last_message() or 'nothing'}); it probably uses an operator or "
                        "tensor type TFLM does not support (float16 weights, hybrid dynamic-range kernels)")
                high = min(high * 4, MAX_ARENA)
            reported, report = allocation_report(tflite, high)
            # The report is a good first guess: start the bisection around it.
            low = 0
            if worker.works(reported):
                high = reported
                guess = max(0, reported - 4 * ALIGNMENT)
                if not worker.works(guess):
                    low = guess
            else:
                low = reported
            while high - low > 1:
                middle = (low + high) // 2
                if worker.works(middle):
                    high = middle
                else:
                    low = middle
        finally:
            worker.close()
    rounded = -(-high // ALIGNMENT) * ALIGNMENT
    if rounded == high:
        rounded += ALIGNMENT  # the next malloc may start less aligned than this one did
    result = ArenaMeasurement(arena_bytes=rounded, smallest_working=high, reported_bytes=reported,
                              probes=worker.probes, crashes=worker.crashes, report=report)
    # The report counts what stays allocated; planning needs some scratch on top, never much less.
    if high < reported - 64 or high > reported * 1.5 + 512:
        log.warning("TFLM arena bisection disagrees with its allocation report",
                    extra={"smallest_working": high, "reported": reported})
    log.info("measured TFLM arena", extra={k: v for k, v in result.to_dict().items() if k != "report"})
    return result


def run_tflm(tflite: bytes, inputs: np.ndarray, arena_bytes: int | None = None,
             dequantize: bool = True) -> np.ndarray:
    """Run every sample of `inputs` (batch axis first) through TFLM; outputs stacked on axis 0.

    Float inputs are quantized for an integer model with its input scale and zero point; integer
    outputs are dequantized to float32 unless `dequantize` is False. Without `arena_bytes` the
    arena is measured first. Raises StageError when the model does not fit the arena.
    """
    if arena_bytes is None:
        arena_bytes = measure_arena(tflite).arena_bytes
    inputs = np.asarray(inputs)
    with tempfile.TemporaryDirectory(prefix="origami-tflm-") as tmp:
        path = _model_file(tflite, tmp)
        in_path, out_path = os.path.join(tmp, "inputs.npy"), os.path.join(tmp, "outputs.npy")
        np.save(in_path, inputs)
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "runtimes.tflm_worker", "run", path, str(write_fd),
                 str(arena_bytes), in_path, out_path, "1" if dequantize else "0"],
                capture_output=True, text=True, pass_fds=(write_fd,), cwd=_project_root(), env=_worker_env(),
                timeout=max(PROBE_TIMEOUT_S, len(inputs) * 0.05))
        finally:
            os.close(write_fd)
        with os.fdopen(read_fd) as r:
            answer = r.read().strip()
        if proc.returncode < 0 or not answer:
            raise StageError(f"TFLM crashed running the model with a {arena_bytes}-byte arena "
                             f"(signal {-proc.returncode}); the arena is probably too small: "
                             "measure it with measure_arena()")
        status = json.loads(answer.splitlines()[-1])
        if not status["ok"]:
            raise StageError(f"the model does not fit a {arena_bytes}-byte TFLM arena ({status['error']}; "
                             f"{proc.stderr.strip()[-300:]}); use a larger arena or a smaller variant")
        return np.load(out_path)
