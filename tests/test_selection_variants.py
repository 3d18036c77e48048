"""Variant selection decides from reported capabilities and always says why."""
from __future__ import annotations

from controller.devices.selection import Candidate
from controller.devices.selection import select_variant
from specs.v1alpha1.protocol import Accelerator
from specs.v1alpha1.protocol import Capabilities

KIB = 1024
VARIANTS = [
    Candidate("int8", "tflm", "int8", size=120 * KIB, arena=90 * KIB),
    Candidate("head", "tflm", "int8", size=40 * KIB, arena=20 * KIB, part="head"),
    Candidate("lite-int8", "litert", "int8", size=120 * KIB),
    Candidate("lite-f16", "litert", "float16", size=230 * KIB),
    Candidate("lite-tpu", "litert", "int8", size=130 * KIB, edgetpu=True),
]


def mcu(ram: int, flash: int) -> Capabilities:
    return Capabilities(family="mcu", ramBytes=ram, flashBytes=flash, runtimes=["tflm"])


def linux(*accelerators: Accelerator) -> Capabilities:
    return Capabilities(family="linux", ramBytes=4 << 30, freeBytes=10 << 30, runtimes=["litert"],
                        accelerators=list(accelerators))


def test_mcu_gets_full_int8_when_it_fits_and_head_when_only_that_fits():
    assert select_variant(mcu(256 * KIB, 1 << 20), VARIANTS).candidate.name == "int8"
    small = select_variant(mcu(64 * KIB, 1 << 20), VARIANTS)
    assert small.candidate.name == "head" and "arena" in small.reason and "does not fit" in small.reason
    none = select_variant(mcu(8 * KIB, 1 << 20), VARIANTS)
    assert none.candidate is None and "no variant fits" in none.reason


def test_linux_cpu_gets_int8_and_cuda_gets_float16():
    assert select_variant(linux(), VARIANTS, edgetpu_compiler=False).candidate.name == "lite-int8"
    gpu = select_variant(linux(Accelerator(kind="cuda", detail="10.2")), VARIANTS, edgetpu_compiler=False)
    assert gpu.candidate.name == "lite-f16" and "CUDA" in gpu.reason


def test_edge_tpu_detected_falls_back_to_int8_with_reason():
    tpu = Accelerator(kind="edgetpu", detail="/dev/apex_0")
    without_compiled = [v for v in VARIANTS if not v.edgetpu]
    fallback = select_variant(linux(tpu), without_compiled, edgetpu_compiler=False)
    assert fallback.candidate.name == "lite-int8"
    assert "Edge TPU detected" in fallback.reason and "no Edge TPU compiler" in fallback.reason
    assert select_variant(linux(tpu), VARIANTS, edgetpu_compiler=True).candidate.name == "lite-tpu"
    unusable = Accelerator(kind="edgetpu", detail="/dev/apex_0", usable=False, reason="libedgetpu missing")
    chosen = select_variant(linux(unusable), VARIANTS, edgetpu_compiler=True)
    assert chosen.candidate.name == "lite-int8" and "libedgetpu missing" in chosen.reason


def test_one_rule_the_most_accurate_variant_that_fits_ties_broken_by_flash():
    """The issue's case: rpi4 got pruned-clustered-int8 (0.9861) over int8 (0.9889) at the same 55,968 B."""
    same_size = [Candidate("int8", "litert", "int8", size=55_968, score=0.9889, shown="accuracy 0.9889"),
                 Candidate("pruned-clustered-int8", "litert", "int8", size=55_968, score=0.9861,
                           shown="accuracy 0.9861")]
    chosen = select_variant(linux(), same_size, edgetpu_compiler=False)
    assert chosen.candidate.name == "int8"
    assert chosen.reason == "int8 LiteRT on the CPU: int8 (55968 B), the most accurate that fits (accuracy 0.9889)"
    boards = [Candidate("big", "tflm", "int8", size=300 * KIB, arena=40 * KIB, score=0.99, shown="accuracy 0.9900"),
              Candidate("small", "tflm", "int8", size=100 * KIB, arena=30 * KIB, score=0.97, shown="accuracy 0.9700"),
              Candidate("tied", "tflm", "int8", size=90 * KIB, arena=30 * KIB, score=0.97, shown="accuracy 0.9700")]
    assert select_variant(mcu(256 * KIB, 1 << 20), boards).candidate.name == "big"  # fits: most accurate
    tight = select_variant(mcu(256 * KIB, 200 * KIB), boards)  # big does not fit the flash
    assert tight.candidate.name == "tied"  # as accurate as small, less flash
    assert tight.reason.endswith("the most accurate that fits (accuracy 0.9700)")
