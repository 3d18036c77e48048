"""The plan: the desired-state graph of a spec repository, as actions.

Pure: a function of the loaded specs (and, once the state store exists, of recorded state).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from controller.loading import SpecRepository


@dataclass(frozen=True)
class Action:
    kind: str  # snapshot | train | squeeze | rollout
    target: str  # Dataset/x, Model/y, Model/y#variant, Fleet/z
    reason: str
    detail: dict = field(default_factory=dict)


@dataclass
class Plan:
    actions: list[Action]

    def to_dict(self) -> dict:
        return {"actions": [asdict(a) for a in self.actions],
                "summary": {k: sum(a.kind == k for a in self.actions) for k in ("snapshot", "train", "squeeze", "rollout")}}

    def render_text(self) -> str:
        if not self.actions:
            return "No changes: the recorded state matches the specs."
        lines = [f"  {a.kind:<9} {a.target:<40} {a.reason}" for a in self.actions]
        summary = self.to_dict()["summary"]
        lines.append("Plan: " + ", ".join(f"{n} {k}" for k, n in summary.items()))
        return "\n".join(lines)


def plan_repository(repo: SpecRepository) -> Plan:
    actions: list[Action] = []
    for name, dataset in repo.datasets.items():
        actions.append(Action("snapshot", f"Dataset/{name}", "new",
                              {"sources": [s.type for s in dataset.spec.sources]}))
    for name, model in repo.models.items():
        actions.append(Action("train", f"Model/{name}", "new",
                              {"dataset": model.spec.dataset, "epochs": model.spec.training.epochs}))
        for variant in model.spec.variants:
            actions.append(Action("squeeze", f"Model/{name}#{variant.name}", "new",
                                  {"quantization": variant.quantization}))
    for name, fleet in repo.fleets.items():
        actions.append(Action("rollout", f"Fleet/{name}", "new",
                              {"model": fleet.spec.model, "boards": list(fleet.spec.selector.boards)}))
    return Plan(actions)
