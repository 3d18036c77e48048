"""Acceptance gates: a pure check of a variant's measured figures against the Model spec."""
from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field

from specs.v1alpha1.model import Gates


@dataclass(frozen=True)
class GateFailure:
    figure: str       # accuracy, accuracy_drop, mae, size_bytes, arena_bytes
    value: float | None
    limit: float
    message: str


@dataclass(frozen=True)
class GateResult:
    passed: bool
    failures: list[GateFailure] = field(default_factory=list)

    @property
    def failing_figures(self) -> list[str]:
        return [f.figure for f in self.failures]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "failing_figures": self.failing_figures,
                "failures": [asdict(f) for f in self.failures]}


def runtime_metrics(figures: dict) -> dict:
    """The metrics a device would see: TFLM when the variant runs there, else LiteRT."""
    return figures.get("tflm") or figures["litert"]


def evaluate_gates(gates: Gates, task: str, figures: dict, float_metrics: dict) -> GateResult:
    """Check every gate the spec sets; collect all failures, not just the first."""
    failures: list[GateFailure] = []
    metrics = runtime_metrics(figures)
    if task == "classification":
        accuracy = metrics["accuracy"]
        if gates.minAccuracy is not None and accuracy < gates.minAccuracy:
            failures.append(GateFailure("accuracy", accuracy, gates.minAccuracy,
                                        f"accuracy {accuracy:.4f} < minAccuracy {gates.minAccuracy:g}"))
        drop = float_metrics["accuracy"] - accuracy
        if gates.maxAccuracyDrop is not None and drop > gates.maxAccuracyDrop + 1e-12:
            failures.append(GateFailure("accuracy_drop", drop, gates.maxAccuracyDrop,
                                        f"accuracy drop {drop:.4f} vs the float model > maxAccuracyDrop "
                                        f"{gates.maxAccuracyDrop:g}"))
    elif gates.maxMAE is not None and metrics["mae"] > gates.maxMAE:
        failures.append(GateFailure("mae", metrics["mae"], gates.maxMAE,
                                    f"MAE {metrics['mae']:.4f} > maxMAE {gates.maxMAE:g}"))
    if gates.maxSize is not None and figures["size_bytes"] > gates.maxSize:
        failures.append(GateFailure("size_bytes", figures["size_bytes"], gates.maxSize,
                                    f"size {figures['size_bytes']} B > maxSize {gates.maxSize} B"))
    if gates.maxArena is not None:
        arena = figures.get("arena_bytes")
        if arena is None:
            failures.append(GateFailure("arena_bytes", None, gates.maxArena,
                                        "the variant does not run on TFLM, so its arena cannot meet maxArena"))
        elif arena > gates.maxArena:
            failures.append(GateFailure("arena_bytes", arena, gates.maxArena,
                                        f"TFLM arena {arena} B > maxArena {gates.maxArena} B"))
    return GateResult(passed=not failures, failures=failures)


# What a TFLM failure most likely comes from, by what the variant is; the interpreter's own words otherwise.
DYNAMIC_SHAPE_OPS = ("SHAPE", "PACK", "STRIDED_SLICE")
TFLM_PRECISION_CAUSES = {"float16": "float16 weights (TFLM has no float16 kernels)",
                         "dynamic": "hybrid dynamic-range kernels (TFLM runs full-integer int8 only)"}


def runtime_ineligibility(quantization: str, figures: dict) -> dict[str, str]:
    """Runtime -> why the variant may not go to boards of that runtime (absent: it may).

    The implicit gate of each target runtime: a variant passes its spec's gates on the figures
    measured for it, but a microcontroller takes it only when TFLM allocates and runs it, in int8.
    LiteRT runs every variant the pipeline measured (it measures on LiteRT first).
    """
    error = figures.get("tflm_error")
    if error:
        dynamic = [op for op in DYNAMIC_SHAPE_OPS if op in figures.get("operators", [])]
        cause = TFLM_PRECISION_CAUSES.get(quantization) or (
            f"dynamic-shape operators ({', '.join(dynamic)} feeding RESHAPE); TFLM needs static shapes"
            if dynamic else f"the interpreter failed: {error[:200]}")
        return {"tflm": f"TFLM cannot run it: {cause}"}
    return declared_ineligibility(quantization)


def declared_ineligibility(quantization: str) -> dict[str, str]:
    """What the spec alone says (before any measurement): microcontrollers take int8 variants only."""
    if quantization != "int8":
        precision = "float32" if quantization == "none" else quantization
        return {"tflm": f"microcontrollers take int8 variants only, this one is {precision}"}
    return {}
