"""TensorFlow's, absl's and the converter's chatter stays off the operator's terminal, Origami's own
lines stay on it, and `--log-level DEBUG` shows the chatter again. The commands run as an operator
runs them: in a process of their own, with the environment's TF_CPP_MIN_LOG_LEVEL at its noisiest."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import EXAMPLES
from tests.conftest import ROOT

# What `make demo` printed among Origami's lines before (issue 15), as fragments of those lines.
NOISE = ("fully_quantize", "inference_type", "NodeDef", "use_unbounded_threadpool", "cuInit", "cudart_stub",
         "absl::InitializeLog", "HDF5", "legacy", "XNNPACK", "UserWarning")


def origami(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ORIGAMI_LOG_LEVEL"}
    env.update(PYTHONPATH=str(ROOT), TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="0")
    return subprocess.run([sys.executable, "-m", "controller.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


def noise_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(n in line for n in NOISE)]


@pytest.mark.ml
def test_build_and_split_print_origamis_lines_and_no_tensorflow_noise(tmp_path):
    state = str(tmp_path / "state")
    build = origami("build", str(EXAMPLES / "sine-mcu"), "--state-dir", state)
    assert build.returncode == 0, build.stderr[-2000:]
    assert noise_in(build.stdout + build.stderr) == []
    assert "training (60 epochs max)" in build.stderr and "epoch 60/60" in build.stderr
    assert build.stdout.startswith("model sine ") and "int8" in build.stdout
    # split explain converts and measures every head in this process, not in the build worker.
    split = origami("split", "explain", "sine", str(EXAMPLES / "sine-mcu"), "--device", "nano33ble",
                    "--state-dir", state)
    assert split.returncode == 0, split.stderr[-2000:]
    assert noise_in(split.stdout + split.stderr) == []
    assert "cut after" in split.stdout


@pytest.mark.ml
def test_debug_shows_what_native_code_printed(tmp_path):
    build = origami("--log-level", "DEBUG", "build", str(EXAMPLES / "sine-mcu"), "--state-dir",
                    str(tmp_path / "state"))
    assert build.returncode == 0, build.stderr[-2000:]
    assert noise_in(build.stderr), "DEBUG shows the build worker's TensorFlow output"
    assert "epoch 60/60" in build.stderr


SCRIPT = textwrap.dedent("""
    import os, sys
    from controller.cli.native_output import quiet_native_output
    quiet_native_output(sys.argv[1])
    os.write(2, b"E0000 00:00:1 op_level_cost_estimator.cc] NodeDef use_unbounded_threadpool\\n")
    print("origami: own line", file=sys.stderr, flush=True)
    if sys.argv[2] == "crash":
        from controller.cli.native_output import replay_native_output
        import time; time.sleep(0.5)  # the reader thread takes the line
        replay_native_output()
""")


def run_script(level: str, crash: str = "no") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, level, crash], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def test_native_writes_to_fd_2_are_captured_and_python_stderr_is_not():
    quiet = run_script("WARNING")
    assert quiet.stderr.splitlines() == ["origami: own line"]
    loud = run_script("DEBUG")
    assert "NodeDef use_unbounded_threadpool" in loud.stderr and "origami: own line" in loud.stderr


def test_a_crash_shows_what_native_code_said_last():
    crashed = run_script("WARNING", "crash")
    assert "origami: own line" in crashed.stderr
    assert "  | E0000 00:00:1 op_level_cost_estimator.cc] NodeDef use_unbounded_threadpool" in crashed.stderr
