"""The plan: what applying a spec repository would change, from the desired-state graph compared
with the recorded state (and the stage cache). Pure: state comes in as a `RecordedState` snapshot.

One code path: `origami plan` prints this plan and the reconcile loop executes it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from controller.loading import SpecRepository
from controller.planning.graph import DesiredGraph, build_graph
from controller.planning.membership import assign_fleets
from controller.state.records import DesiredRecord, DeviceRecord

KINDS = ("snapshot", "train", "squeeze", "build", "rollout", "strategy", "remove")


@dataclass(frozen=True)
class Action:
    kind: str  # one of KINDS
    target: str  # Dataset/x, Model/y, Model/y#variant, Fleet/z
    reason: str  # new | changed | cached | removed
    detail: dict = field(default_factory=dict)


@dataclass
class RecordedState:
    """What the state store knows, as plain data (empty for a first run or a pull request preview)."""

    keys: dict[str, str] = field(default_factory=dict)  # "Kind/name" -> desired key recorded
    variant_keys: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> variant -> key
    strategy_keys: dict[str, str] = field(default_factory=dict)  # fleet -> strategy key
    devices: list[DeviceRecord] = field(default_factory=list)
    desired: dict[str, DesiredRecord] = field(default_factory=dict)

    @classmethod
    def from_store(cls, store) -> RecordedState:
        state = cls(devices=store.devices(), desired=store.desired())
        for obj in store.objects():
            if obj.desired_key:
                state.keys[obj.ref] = obj.desired_key
            if obj.kind == "Model":
                state.variant_keys[obj.name] = obj.detail.get("variant_keys", {})
            if obj.kind == "Fleet" and obj.detail.get("strategy_key"):
                state.strategy_keys[obj.name] = obj.detail["strategy_key"]
        return state


@dataclass
class Plan:
    actions: list[Action]
    graph: DesiredGraph | None = None
    members: dict = field(default_factory=dict)  # fleet -> member devices (from the recorded state)
    conflicts: dict = field(default_factory=dict)  # fleet -> devices another fleet claimed first

    def of_kind(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def to_dict(self) -> dict:
        return {"actions": [asdict(a) for a in self.actions],
                "summary": {k: sum(a.kind == k and a.reason != "cached" for a in self.actions) for k in KINDS},
                "devices": sum(a.detail.get("devices", 0) for a in self.of_kind("rollout"))}

    def render_text(self) -> str:
        if not self.actions:
            return "No changes: the recorded state matches the specs."
        lines = []
        for a in self.actions:
            extra = ""
            if a.kind == "rollout":
                boards = ", ".join(f"{n} {b}" for b, n in sorted(a.detail.get("by_board", {}).items()))
                extra = f"  {a.detail.get('devices', 0)} device(s)" + (f" ({boards})" if boards else "")
            elif a.kind == "train":
                extra = f"  {a.detail.get('epochs')} epoch(s) on Dataset/{a.detail.get('dataset')}"
            lines.append(f"  {a.kind:<9} {a.target:<40} {a.reason}{extra}")
        summary = self.to_dict()["summary"]
        lines.append("Plan: " + ", ".join(f"{n} {k}" for k, n in summary.items() if n)
                     + f"; {self.to_dict()['devices']} device(s) to update")
        return "\n".join(lines)


def _reason(recorded: str | None, key: str, cached: bool) -> str | None:
    if recorded == key:
        return None
    if cached:
        return "cached"
    return "new" if recorded is None else "changed"


def plan_repository(repo: SpecRepository, state: RecordedState | None = None,
                    is_cached: Callable[[str, str], bool] | None = None) -> Plan:
    """Actions that take the recorded state to the specs. `is_cached(kind, graph_key)` says when an
    output already exists (a revert), so the plan says "cached" instead of promising work."""
    state = state or RecordedState()
    cached = is_cached or (lambda kind, key: False)
    graph = build_graph(repo, {d.board for d in state.devices if d.board})
    actions: list[Action] = []
    for name, node in graph.datasets.items():
        reason = _reason(state.keys.get(f"Dataset/{name}"), node.key, cached("snapshot", node.key))
        if reason:
            actions.append(Action("snapshot", f"Dataset/{name}", reason,
                                  {"sources": [s.type for s in repo.datasets[name].spec.sources], "key": node.key}))
    for name, node in graph.models.items():
        spec = repo.models[name].spec
        reason = _reason(state.keys.get(f"Model/{name}"), node.key, cached("train", node.key))
        if reason:
            actions.append(Action("train", f"Model/{name}", reason,
                                  {"dataset": spec.dataset, "epochs": spec.training.epochs, "key": node.key}))
        recorded = state.variant_keys.get(name, {})
        for variant in spec.variants:
            key = node.variants[variant.name]
            reason = _reason(recorded.get(variant.name), key, cached("squeeze", key))
            if reason:
                actions.append(Action("squeeze", f"Model/{name}#{variant.name}", reason,
                                      {"quantization": variant.quantization, "key": key}))
    members, _conflicts = assign_fleets(repo.fleets, state.devices)
    for name, node in graph.fleets.items():
        behind = [d for d in members[name] if (state.desired.get(d.device_id) is None
                                                or state.desired[d.device_id].version != node.version)]
        recorded = state.keys.get(f"Fleet/{name}")
        if recorded != node.version or behind:
            actions.append(Action("rollout", f"Fleet/{name}", "new" if recorded is None else "changed"
                                  if recorded != node.version else "members",
                                  {"model": node.model, "version": node.version, "boards": list(node.boards),
                                   "devices": len(behind), "members": len(members[name]),
                                   "by_board": dict(Counter(d.board for d in behind))}))
        elif state.strategy_keys.get(name) not in (None, node.strategy_key):
            actions.append(Action("strategy", f"Fleet/{name}", "changed",
                                  {"devices": 0, "note": "rollout settings only: nothing is rebuilt or reinstalled"}))
    wanted = {f"Dataset/{n}" for n in graph.datasets} | {f"Model/{n}" for n in graph.models} | {
        f"Fleet/{n}" for n in graph.fleets}
    for ref in sorted(set(state.keys) - wanted):
        actions.append(Action("remove", ref, "removed", {"note": "no longer in the specs; devices keep what they run"}))
    return Plan(actions, graph, members, _conflicts)
