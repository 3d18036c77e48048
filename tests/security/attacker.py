"""An attacker's spec repository, as CI or the controller would meet it.

Real git (committed symlinks survive a clone), a secret beside the repository whose content must
never appear in any output, and the real `origami` CLI or a pipeline call in a subprocess under
a memory ceiling: a runaway allocation ends in MemoryError there instead of taking the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import git

from tests.conftest import ROOT

SECRET = "TOP-SECRET-7f3a91"  # in every file outside the repository; never in any output
MEMORY_CEILING = 1536 * 1024 * 1024  # address space of the subprocess: 1.5 GiB
BOUND_SECONDS = 60  # a generous bound on a subprocess (not a measurement)


def secret_beside(tmp: Path) -> Path:
    """tmp/outside/: a CSV, a YAML spec and a Python module holding SECRET, outside any repository."""
    outside = tmp / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.csv").write_text(f"{SECRET},label\n1,a\n2,b\n")
    (outside / "planted.yaml").write_text(
        "apiVersion: origami/v1alpha1\nkind: Dataset\n"
        f"metadata: {{name: planted, description: {SECRET}}}\n"
        "spec: {task: classification, sources: [{type: packaged, name: sklearn.iris}]}\n")
    (outside / "steal.py").write_text(f"MARK = {SECRET!r}\n")
    return outside


def spec_repository(tmp: Path, files: dict[str, str | bytes], symlinks: dict[str, str] | None = None) -> Path:
    """Commit `files` and `symlinks` (name -> target) to a git repository and return a fresh clone of it."""
    origin = tmp / "origin"
    for name, content in files.items():
        path = origin / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for name, target in (symlinks or {}).items():
        link = origin / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    repo = git.Repo.init(origin, initial_branch="main")
    repo.git.add(A=True)
    repo.index.commit("merged by someone with write access")
    clone = tmp / "checkout"
    git.Repo.clone_from(str(origin), clone)
    for name in symlinks or {}:
        assert (clone / name).is_symlink(), "the clone keeps the committed symlink"
    return clone


def _under_ceiling(code: str, memory: int) -> str:
    return f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n" + code


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def python(code: str, *args: str, cwd: Path = ROOT, memory: int = MEMORY_CEILING) -> subprocess.CompletedProcess:
    """A snippet of Python (e.g. one pipeline call) in a subprocess under the memory ceiling."""
    return subprocess.run([sys.executable, "-c", _under_ceiling(textwrap.dedent(code), memory), *args], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=BOUND_SECONDS)


def origami(*args: str, cwd: Path = ROOT, memory: int = MEMORY_CEILING) -> subprocess.CompletedProcess:
    """The real CLI, as a user or CI runs it, under the memory ceiling."""
    return python("import sys\nfrom controller.cli.main import main\nsys.exit(main())", *args, cwd=cwd,
                  memory=memory)


def assert_clean_refusal(done: subprocess.CompletedProcess, tmp: Path, code: int = 1) -> str:
    """Refused with exit `code`, no traceback, nothing of the secret and no host path in any output."""
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "Traceback" not in output and "MemoryError" not in output, output
    assert SECRET not in output, output
    assert str(tmp) not in output and str(tmp.resolve()) not in output, output
    return output


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of `size` bytes that takes no disk: `head`, then a hole (zeros)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path
