"""Capability detection reads a board's files: device tree model, Jetson release, Edge TPU nodes, CUDA."""
from __future__ import annotations

from pathlib import Path

from controller.devices.capabilities import detect_capabilities


def _write(root: Path, rel: str, text: str | bytes = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def test_raspberry_pi_with_coral_usb_edge_tpu(tmp_path):
    _write(tmp_path, "proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.4\0")
    _write(tmp_path, "proc/meminfo", "MemTotal:        3884376 kB\nMemFree: 1 kB\n")
    _write(tmp_path, "proc/cpuinfo", "processor\t: 0\nprocessor\t: 1\nprocessor\t: 2\nprocessor\t: 3\n")
    _write(tmp_path, "dev/apex_0")
    caps = detect_capabilities(tmp_path, arch="aarch64")
    assert caps.board == "Raspberry Pi 4 Model B Rev 1.4" and caps.cores == 4
    assert caps.ramBytes == 3884376 * 1024 and caps.freeBytes > 0
    (tpu,) = caps.accelerators
    assert tpu.kind == "edgetpu" and tpu.detail == "/dev/apex_0" and not tpu.usable and "libedgetpu" in tpu.reason
    _write(tmp_path, "usr/lib/aarch64-linux-gnu/libedgetpu.so.1")
    caps = detect_capabilities(tmp_path)
    assert caps.accelerators[0].usable and "edgetpu-delegate" in caps.runtimes


def test_jetson_from_release_file_with_cuda(tmp_path):
    _write(tmp_path, "etc/nv_tegra_release", "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref\n")
    _write(tmp_path, "usr/local/cuda/version.txt", "CUDA Version 10.2.300\n")
    _write(tmp_path, "dev/nvhost-ctrl-gpu")
    caps = detect_capabilities(tmp_path)
    assert caps.board.startswith("NVIDIA Jetson") and "R32" in caps.board
    (cuda,) = caps.accelerators
    assert cuda.kind == "cuda" and cuda.usable and "10.2" in cuda.detail


def test_this_machine_reports_litert_and_real_figures():
    caps = detect_capabilities()
    assert caps.family == "linux" and caps.cores >= 1 and caps.ramBytes > 0 and "litert" in caps.runtimes
