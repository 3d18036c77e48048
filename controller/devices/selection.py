"""Variant selection: from what a device reports, choose the artifact that fits it and say why.

One rule picks among the variants a board may take (passed their gates, of its runtime and
preferred precision below): **the most accurate that fits the board's budget** (lowest MAE for
regression), ties broken by the smaller flash (model bytes), then the smaller arena, then the name.

- Microcontroller: an int8 TFLM build whose model fits flash and whose arena fits RAM; the
  split head when only the head fits.
- Linux board: a LiteRT bundle. An Edge TPU that the device reports as usable is used only with
  an Edge TPU-compiled variant (which needs `edgetpu_compiler` on the controller); otherwise the
  choice falls back to int8 LiteRT on the CPU and the reason says so. float16 is chosen where a
  GPU delegate can use it (CUDA reported usable) or where no int8 variant exists.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass

from specs.v1alpha1.budget import Budget
from specs.v1alpha1.budget import misfit
from specs.v1alpha1.protocol import Capabilities


@dataclass(frozen=True)
class Candidate:
    """One built variant, as measured by the pipeline."""

    name: str
    runtime: str                 # "tflm" or "litert"
    precision: str               # "int8", "float16", "float32", "dynamic"
    size: int                    # bytes of the model (flash / disk)
    arena: int = 0               # measured TFLM tensor arena (bytes); 0 for LiteRT
    part: str = "full"           # "full" or "head"
    edgetpu: bool = False        # compiled for the Edge TPU
    score: float | None = None   # higher is better: test accuracy, or -MAE for regression (None: unknown)
    shown: str = ""              # the score for a person, e.g. "accuracy 0.9889"


@dataclass(frozen=True)
class Selection:
    candidate: Candidate | None
    reason: str


def edgetpu_compiler_available() -> bool:
    return shutil.which("edgetpu_compiler") is not None


def _mcu_fits(c: Candidate, caps: Capabilities) -> str:
    """Why a candidate does not fit a microcontroller ('' when it fits); unknown sizes (0) bind nothing."""
    unknown = 2 ** 62
    budget = Budget(ram=caps.ramBytes or unknown, flash=caps.flashBytes or unknown)
    return misfit(budget, size=c.size, arena=c.arena, what=c.name)


def rank(c: Candidate) -> tuple:
    """The selection order: most accurate first, then smaller flash, smaller arena, name."""
    return (-(c.score if c.score is not None else float("-inf")), c.size, c.arena, c.name)


def _why(c: Candidate) -> str:
    return f", the most accurate that fits ({c.shown})" if c.shown else ""


def select_variant(caps: Capabilities, candidates: list[Candidate], *,
                   edgetpu_compiler: bool | None = None) -> Selection:
    if caps.family == "mcu":
        return _select_mcu(caps, candidates)
    return _select_linux(caps, candidates,
                         edgetpu_compiler_available() if edgetpu_compiler is None else edgetpu_compiler)


def _select_mcu(caps: Capabilities, candidates: list[Candidate]) -> Selection:
    usable = [c for c in candidates if c.runtime == "tflm" and c.precision == "int8"]
    if not usable:
        return Selection(None, "no int8 TFLM variant was built; a microcontroller runs only int8 TFLM")
    misfits = []
    for part in ("full", "head"):
        fitting = []
        for c in sorted((c for c in usable if c.part == part), key=rank):
            why = _mcu_fits(c, caps)
            (misfits.append(why) if why else fitting.append(c))
        if fitting:
            best = fitting[0]
            if part == "head":
                return Selection(best, f"the full model does not fit ({'; '.join(misfits)}); "
                                       f"the split head {best.name} does (arena {best.arena} B, {best.size} B)")
            return Selection(best, f"int8 TFLM {best.name} fits (arena {best.arena} B of {caps.ramBytes} B RAM, "
                                   f"{best.size} B of {caps.flashBytes} B flash){_why(best)}")
    return Selection(None, "no variant fits this board: " + "; ".join(misfits))


def _select_linux(caps: Capabilities, candidates: list[Candidate], compiler: bool) -> Selection:
    litert = [c for c in candidates if c.runtime == "litert" and c.part == "full"
              and (not caps.freeBytes or c.size <= caps.freeBytes)]
    if not litert:
        return Selection(None, "no LiteRT variant was built that fits the device's free disk")
    by_precision = {c.precision: c for c in sorted((c for c in litert if not c.edgetpu), key=rank, reverse=True)}
    tpu = next((a for a in caps.accelerators if a.kind == "edgetpu"), None)
    note = ""
    if tpu is not None:
        compiled = next((c for c in litert if c.edgetpu), None)
        if tpu.usable and compiled is not None:
            return Selection(compiled,
                             f"Edge TPU {tpu.detail or ''} usable; {compiled.name} is compiled for it".strip())
        if not tpu.usable:
            note = f"Edge TPU detected but not usable ({tpu.reason or 'no runtime'}); "
        elif not compiler:
            note = "Edge TPU detected, but no Edge TPU compiler is available on the controller; "
        else:
            note = "Edge TPU detected, but no Edge TPU-compiled variant was built; "
    cuda = any(a.kind == "cuda" and a.usable for a in caps.accelerators)
    order = ["float16", "int8"] if cuda else ["int8", "dynamic", "float16", "float32"]
    for precision in order + [p for p in by_precision if p not in order]:
        if precision in by_precision and not by_precision[precision].edgetpu:
            chosen = by_precision[precision]
            why = "GPU (CUDA) runs float16" if cuda and precision == "float16" else f"{precision} LiteRT on the CPU"
            return Selection(chosen, f"{note}{why}: {chosen.name} ({chosen.size} B){_why(chosen)}")
    return Selection(None, f"{note}no CPU LiteRT variant was built")
