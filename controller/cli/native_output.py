"""Native libraries' chatter kept off the operator's terminal.

TensorFlow, absl, the TFLite converter and LiteRT write from C++ straight to file descriptor 2
(`fully_quantize: 0, inference_type: 6`, `E0000 ... cuInit`, `INFO: Created TensorFlow Lite XNNPACK
delegate`), some before `absl::InitializeLog()` and so whatever TF_CPP_MIN_LOG_LEVEL says. Setting
that variable is not enough, and it is too late once TensorFlow is imported; Python-level warnings
from the same libraries (HDF5 "legacy format") follow their own path. So, once per process, before
anything imports TensorFlow:

- fd 2 becomes a pipe whose lines are kept in a short tail (shown only when the command crashes);
- Python's `sys.stderr` (Origami's logs, progress lines, tracebacks) keeps the real stderr;
- UserWarnings raised inside TensorFlow/Keras are ignored.

With `--log-level DEBUG` nothing is captured and TensorFlow logs everything: the raw output is
what one wants when debugging a build. Subprocesses that inherit fd 2 are captured as well; the
ones Origami starts capture their own output already.
"""
from __future__ import annotations

import collections
import os
import sys
import threading
import warnings

# Modules whose Python warnings are noise for an operator (`warnings` matches this at the start of
# the module that raised the warning).
NOISY_MODULES = r"(tensorflow|tf_keras|keras|tensorflow_model_optimization|absl|ai_edge_litert|tflite_micro)(\.|$)"
TAIL_LINES = 40
MAX_LINE_CHARS = 300


class NativeOutput:
    """The captured side of fd 2: a reader thread keeps its last lines."""

    def __init__(self, read_fd: int) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.lines = 0
        self._file = os.fdopen(read_fd, "rb", buffering=0)
        threading.Thread(target=self._read, name="native-stderr", daemon=True).start()

    def _read(self) -> None:
        pending = b""
        while chunk := self._file.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.lines += 1
                self.tail.append(line.decode("utf-8", "replace").rstrip()[:MAX_LINE_CHARS])

    def replay(self, stream) -> None:
        """Print the captured tail (after a crash: it may say why native code failed)."""
        if self.tail:
            print(f"origami: the last {len(self.tail)} line(s) native libraries wrote to stderr:", file=stream)
            for line in list(self.tail):
                print(f"  | {line}", file=stream)


_lock = threading.Lock()
_installed: NativeOutput | None = None


def tf_log_level(level: str) -> str:
    """TF_CPP_MIN_LOG_LEVEL for an Origami log level: everything at DEBUG, errors otherwise (the
    build worker's stderr tail then holds what went wrong, not TensorFlow's start-up chatter)."""
    return "0" if level == "DEBUG" else "2"


def quiet_native_output(level: str) -> NativeOutput | None:
    """Capture native stderr for the rest of the process unless `level` is DEBUG. Idempotent; does
    nothing when Python's stderr is not the process's own (a test harness capturing it)."""
    global _installed
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = tf_log_level(level)
    if level == "DEBUG":
        return None
    with _lock:
        if _installed is not None or sys.stderr is not sys.__stderr__ or sys.stderr is None:
            return _installed
        warnings.filterwarnings("ignore", category=UserWarning, module=NOISY_MODULES)
        try:
            sys.stderr.flush()
            real = os.dup(2)
            read, write = os.pipe()
        except (OSError, ValueError):
            return None  # no usable fd 2 (a daemon started without one): nothing to capture
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        sys.stderr = open(real, "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115
        os.dup2(write, 2)
        os.close(write)
        os.set_inheritable(2, True)
        _installed = NativeOutput(read)
        return _installed


def replay_native_output(stream=None) -> None:
    """After a crash: what native code said last, if it was captured."""
    if _installed is not None:
        _installed.replay(stream or sys.stderr)
