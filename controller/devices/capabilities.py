"""Capability detection on a Linux board: what the device agent reports in its hello.

Everything is read from the file system under `root` (default "/"), so the same code describes
this machine, a board, or a directory laid out like one.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from pathlib import Path

from specs.v1alpha1.protocol import Accelerator
from specs.v1alpha1.protocol import Capabilities


def board_model(root: Path) -> str:
    """Device tree model (Raspberry Pi, Jetson, Coral), Jetson's release file, or the DMI name."""
    model = root / "proc/device-tree/model"
    if model.is_file():
        return model.read_bytes().rstrip(b"\0").decode("utf-8", "replace").strip()
    tegra = root / "etc/nv_tegra_release"
    if tegra.is_file():
        first = tegra.read_text(errors="replace").splitlines()[0] if tegra.read_text(errors="replace") else ""
        return f"NVIDIA Jetson ({first.lstrip('# ').strip()})" if first else "NVIDIA Jetson"
    dmi = root / "sys/class/dmi/id/product_name"
    if dmi.is_file():
        return dmi.read_text(errors="replace").strip()
    return ""


def total_ram(root: Path) -> int:
    meminfo = root / "proc/meminfo"
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_cores(root: Path) -> int:
    cpuinfo = root / "proc/cpuinfo"
    if root == Path("/") or not cpuinfo.is_file():
        return os.cpu_count() or 1
    return max(1, sum(1 for line in cpuinfo.read_text().splitlines() if line.startswith("processor")))


def _libedgetpu(root: Path) -> bool:
    return any((root / d).glob("libedgetpu.so*") for d in ("usr/lib", "usr/lib/aarch64-linux-gnu",
                                                              "usr/lib/x86_64-linux-gnu", "usr/local/lib")
               if (root / d).is_dir())


def accelerators(root: Path) -> list[Accelerator]:
    found = []
    apex = sorted((root / "dev").glob("apex_*")) if (root / "dev").is_dir() else []
    if apex:
        usable = _libedgetpu(root)
        found.append(Accelerator(kind="edgetpu", detail=",".join("/dev/" + p.name for p in apex), usable=usable,
                                 reason="" if usable else "libedgetpu (the Edge TPU runtime) is not installed"))
    cuda_version = next((root / f"usr/local/cuda/{name}" for name in ("version.json", "version.txt")
                         if (root / f"usr/local/cuda/{name}").is_file()), None)
    gpu_node = any((root / node).exists() for node in ("dev/nvidia0", "dev/nvhost-ctrl-gpu"))
    if cuda_version is not None or gpu_node:
        detail = cuda_version.read_text(errors="replace").strip()[:80] if cuda_version else "GPU device node"
        found.append(Accelerator(kind="cuda", detail=detail, usable=gpu_node and cuda_version is not None,
                                 reason="" if gpu_node and cuda_version else "CUDA toolkit or GPU device node missing"))
    return found


def runtimes(root: Path) -> list[str]:
    found = []
    if root == Path("/"):
        if importlib.util.find_spec("ai_edge_litert") is not None:
            found.append("litert")
        if importlib.util.find_spec("tflite_runtime") is not None:
            found.append("tflite-runtime")
    if _libedgetpu(root):
        found.append("edgetpu-delegate")
    return found


def detect_capabilities(root: Path = Path("/"), disk: Path | None = None, *, arch: str | None = None,
                        transports: list[str] | None = None) -> Capabilities:
    """Describe the board under `root`; free space is measured where artifacts go (`disk`)."""
    root = Path(root)
    disk = Path(disk) if disk is not None else root
    usage = shutil.disk_usage(disk)
    return Capabilities(
        family="linux",
        board=board_model(root),
        arch=arch or platform.machine(),
        cores=cpu_cores(root),
        ramBytes=total_ram(root),
        flashBytes=usage.total,
        freeBytes=usage.free,
        runtimes=runtimes(root),
        accelerators=accelerators(root),
        transports=transports or ["ethernet"],
    )
