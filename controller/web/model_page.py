"""What the model page adds to the API's ModelView: which variant each board got and why, the
size-vs-accuracy chart with gate lines and the Pareto front, the per-board fronts from the model
card, and alt texts that say what a plot shows (pure functions of recorded figures)."""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from controller.loading import SpecRepository
from controller.pipeline.pareto import Point
from controller.pipeline.pareto import front
from controller.state.records import ObjectStatus
from controller.web.svgplot import Chart
from controller.web.svgplot import Guide
from controller.web.svgplot import Series
from controller.web.svgplot import render
from controller.web.views import ModelView

KIB = 1024


@dataclass(frozen=True)
class Assignment:
    fleet: str
    board: str
    version: str | None
    variant: str | None   # None: no artifact built for this board yet
    why: str


def board_assignments(fleets: list[ObjectStatus], repo: SpecRepository | None, model: str) -> list[Assignment]:
    """Per fleet running `model` and per board class: the variant of its desired release and the
    selection rule's reason, as the fleet's last pass recorded them."""
    rows = []
    for obj in fleets:
        spec = repo.fleets.get(obj.name) if repo else None
        if spec is None or spec.spec.model != model:
            continue
        status = obj.fleet
        version = status.version or status.target
        built = status.releases.get(version or "", {})
        for board in sorted(set(built) | set(status.boards)):
            artifact = built.get(board)
            if artifact is None:
                rows.append(Assignment(obj.name, board, version, None, "no artifact for this board yet"))
            else:
                rows.append(Assignment(obj.name, board, version, artifact.get("variant"), artifact.get("note") or ""))
    return rows


def _metric(view: ModelView) -> str:
    return "accuracy" if any(v.accuracy is not None for v in view.variants) else "mae"


def size_chart(view: ModelView, repo: SpecRepository | None) -> Markup:
    """Size (KiB) against accuracy (or MAE) on the device runtime, gate lines, the Pareto front of the
    variants that passed (none smaller and better)."""
    metric = _metric(view)
    measured = [v for v in view.variants if v.size is not None and getattr(v, metric) is not None]
    if not measured:
        return Markup("")
    spec = repo.models.get(view.name) if repo else None
    gates = spec.spec.gates if spec else None
    guides = []
    if gates is not None:
        if gates.maxSize:
            guides.append(Guide("x", gates.maxSize / KIB, f"maxSize {gates.maxSize / KIB:g} KiB"))
        if metric == "accuracy" and gates.minAccuracy is not None:
            guides.append(Guide("y", gates.minAccuracy, f"minAccuracy {gates.minAccuracy:g}"))
        if metric == "mae" and gates.maxMAE is not None:
            guides.append(Guide("y", gates.maxMAE, f"maxMAE {gates.maxMAE:g}"))
        float_accuracy = (view.card.float_metrics.get("accuracy") if view.card else None)
        if metric == "accuracy" and gates.maxAccuracyDrop is not None and isinstance(float_accuracy, float | int):
            floor = float_accuracy - gates.maxAccuracyDrop
            guides.append(Guide("y", floor, f"float − maxAccuracyDrop {floor:.3g}"))
    sign = 1 if metric == "accuracy" else -1
    passed = [v for v in measured if v.passed]
    on_front = front([Point(v.name, sign * getattr(v, metric), v.size, 0) for v in passed])
    best = sorted((v for v in passed if v.name in on_front), key=lambda v: v.size)
    series = [Series("passed", [(v.size / KIB, getattr(v, metric)) for v in passed], "passed", line=False,
                     labels=[v.name for v in passed]),
              Series("failed", [(v.size / KIB, getattr(v, metric)) for v in measured if not v.passed], "failed",
                     line=False, labels=[v.name for v in measured if not v.passed])]
    if best:
        series.append(Series("Pareto front", [(v.size / KIB, getattr(v, metric)) for v in best], "front"))
    word = "accuracy" if metric == "accuracy" else "MAE (lower is better)"
    description = (f"{len(measured)} variant(s): "
                   + "; ".join(f"{v.name} {v.size / KIB:.1f} KiB, {metric} {getattr(v, metric):.4f}, "
                               f"{'passed' if v.passed else 'failed'} its gates" for v in measured)
                   + f". Pareto front: {', '.join(v.name for v in best) or 'none'}."
                   + (" Gates: " + ", ".join(g.label for g in guides) + "." if guides else ""))
    return render(Chart(f"{view.name}: .tflite size against {word}", description, ".tflite size (KiB)",
                        f"{word} on the test split (device runtime)", series, guides, css="chart size-chart"),
                  "size-chart")


def board_fronts(cards: dict[str, dict]) -> list[dict]:
    """The Pareto view per board of the build (the same in every variant's card): board, budgets,
    front, and why each other variant is off it."""
    for entry in cards.values():
        boards = entry["card"].get("boards")
        if boards:
            return boards
    return []


def training_alt(model: str, history: dict[str, list[float]], epochs: int | None) -> str:
    finals = ", ".join(f"{k} {v[-1]:.4g}" for k, v in sorted(history.items()) if v and isinstance(v[-1], int | float))
    return (f"Training curves of {model} over {epochs or '?'} epoch(s): "
            + ", ".join(sorted(history)) + (f"; at the last epoch {finals}" if finals else "")) if history \
        else f"Training curves of {model}"


def confusion_alt(model: str, variant: str, accuracy: float | None, classes: int | None) -> str:
    figures = [f"accuracy {accuracy:.4f}" if accuracy is not None else "", f"{classes} classes" if classes else ""]
    return (f"Confusion matrix of {model} variant {variant} on the test split (rows: true class, columns: "
            f"predicted class)" + (f", {', '.join(f for f in figures if f)}" if any(figures) else ""))
