"""The plan: what applying a spec repository would do, from the desired-state graph compared with the
stage cache (what is built) and the recorded state (what devices were told to run). Pure: the cache
and the state come in as a lookup and a snapshot.

One code path: `origami plan` prints this plan and the reconcile loop executes it (builds, bundles,
rollouts), so what a pull request previews is what merging does.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from controller.loading import SpecRepository
from controller.pipeline.gates import declared_ineligibility
from controller.planning.graph import DesiredGraph
from controller.planning.graph import build_graph
from controller.planning.membership import assign_fleets
from controller.state.records import DesiredRecord
from controller.state.records import DeviceRecord

KINDS = ("snapshot", "train", "squeeze", "gates", "bundle", "rollout", "strategy", "remove")
BUILD_KINDS = ("snapshot", "train", "squeeze", "gates")
IsBuilt = Callable[[str], bool]  # stage key -> its outputs are in the store


@dataclass(frozen=True)
class Action:
    kind: str  # one of KINDS
    target: str  # Dataset/x, Model/y, Model/y#variant, Fleet/z@board, Fleet/z
    reason: str  # new | changed | cached | members | removed
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def work(self) -> bool:
        """Whether applying it runs something (a cached stage is only recorded)."""
        return self.reason != "cached"


@dataclass
class RecordedState:
    """What the state store knows, as plain data (empty for a first run or a pull request preview)."""

    keys: dict[str, str] = field(default_factory=dict)  # "Kind/name" -> key recorded in its status
    strategy_keys: dict[str, str] = field(default_factory=dict)  # fleet -> strategy key recorded
    devices: list[DeviceRecord] = field(default_factory=list)
    desired: dict[str, DesiredRecord] = field(default_factory=dict)

    @classmethod
    def from_store(cls, store: Any) -> RecordedState:
        state = cls(devices=store.devices(), desired=store.desired())
        for obj in store.objects():
            if obj.desired_key:
                state.keys[obj.ref] = obj.desired_key
            if obj.kind == "Fleet" and obj.fleet.strategy_key:
                state.strategy_keys[obj.name] = obj.fleet.strategy_key
        return state


@dataclass
class Plan:
    actions: list[Action]
    graph: DesiredGraph
    members: dict[str, list[DeviceRecord]] = field(default_factory=dict)  # fleet -> member devices
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # fleet -> devices another fleet claimed

    def of_kind(self, *kinds: str) -> list[Action]:
        return [a for a in self.actions if a.kind in kinds]

    def builds(self, model: str) -> list[Action]:
        """The model's stages that must run (not cached)."""
        return [a for a in self.of_kind(*BUILD_KINDS) if a.work and a.detail.get("model") == model]

    def to_dict(self) -> dict[str, Any]:
        return {"actions": [asdict(a) for a in self.actions],
                "summary": {k: sum(a.kind == k and a.work for a in self.actions) for k in KINDS},
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
            elif a.kind == "train" and a.work:
                extra = f"  {a.detail.get('epochs')} epoch(s) on Dataset/{a.detail.get('dataset')}"
            elif a.kind == "bundle" and a.work:
                extra = f"  for Model/{a.detail.get('model')}" + (f"; {a.detail['note']}" if "note" in a.detail else "")
            elif a.kind == "squeeze" and "tflm" in a.detail.get("ineligible", {}):
                extra = f"  not for TFLM boards: {a.detail['ineligible']['tflm']}"
            lines.append(f"  {a.kind:<9} {a.target:<40} {a.reason}{extra}")
        summary = self.to_dict()["summary"]
        work = ", ".join(f"{n} {k}" for k, n in summary.items() if n) or "nothing to build"
        lines.append(f"Plan: {work}; {self.to_dict()['devices']} device(s) to update")
        return "\n".join(lines)


def _compression(variant: Any) -> dict[str, str]:
    """A squeeze action's note of on-device compression (the DECODE model is for TFLM boards only)."""
    return {"compression": f"lut{variant.compression.lut.bits}"} if variant.compression else {}


def _tflm_board(repo: SpecRepository, board: str) -> bool:
    profile = repo.profiles.get(board)
    return profile is not None and profile.spec.runtime == "tflm"


def _reason(recorded: str | None, key: str, built: bool) -> str | None:
    """None when nothing changes; "cached" when the status changes but the output exists already."""
    if built:
        return None if recorded == key else "cached"
    return "new" if recorded is None else "changed"


def plan_repository(repo: SpecRepository, state: RecordedState | None = None,
                    is_built: IsBuilt | None = None) -> Plan:
    """Actions that take the recorded state and the store to the specs."""
    state = state or RecordedState()
    built: IsBuilt = is_built or (lambda key: False)
    members, conflicts = assign_fleets(repo.fleets, state.devices)
    graph = build_graph(repo, {name: {d.board for d in devices if d.board} for name, devices in members.items()})
    actions: list[Action] = []
    for name, key in graph.datasets.items():
        users = [m for m, model in repo.models.items() if model.spec.dataset == name]
        reason = _reason(state.keys.get(f"Dataset/{name}"), key, built(key))
        if reason and users:
            actions.append(Action("snapshot", f"Dataset/{name}", reason,
                                  {"sources": [s.type for s in repo.datasets[name].spec.sources], "key": key,
                                   "model": users[0]}))
    for name, keys in graph.models.items():
        spec = repo.models[name].spec
        recorded = state.keys.get(f"Model/{name}")
        if not built(keys.train):
            actions.append(Action("train", f"Model/{name}", "new" if recorded is None else "changed",
                                  {"dataset": spec.dataset, "epochs": spec.training.epochs, "key": keys.train,
                                   "model": name}))
        for variant in spec.variants:
            key = keys.variants[variant.name]
            if not built(key):
                actions.append(Action("squeeze", f"Model/{name}#{variant.name}", "new" if recorded is None
                                      else "changed", {"quantization": variant.quantization, "key": key,
                                                       "model": name, **_compression(variant),
                                                       "ineligible": declared_ineligibility(variant.quantization)}))
        reason = _reason(recorded, keys.cards, built(keys.cards))
        if reason:
            actions.append(Action("gates", f"Model/{name}", reason, {"key": keys.cards, "model": name}))
    for name, fleet in graph.fleets.items():
        for board, key in fleet.bundles.items():
            if not built(key):
                detail = {"key": key, "model": fleet.model, "board": board, "fleet": name}
                if _tflm_board(repo, board) and not any(
                        not declared_ineligibility(v.quantization) for v in repo.models[fleet.model].spec.variants):
                    detail["note"] = "no int8 variant: a TFLM board cannot take this model"
                actions.append(Action("bundle", f"Fleet/{name}@{board}", "new" if f"Fleet/{name}" not in state.keys
                                      else "changed", detail))
        behind = [d for d in members[name] if (state.desired.get(d.device_id) is None
                                                or state.desired[d.device_id].version != fleet.version)]
        recorded = state.keys.get(f"Fleet/{name}")
        if recorded != fleet.version or behind:
            actions.append(Action("rollout", f"Fleet/{name}", "new" if recorded is None else "changed"
                                  if recorded != fleet.version else "members",
                                  {"model": fleet.model, "version": fleet.version, "boards": list(fleet.boards),
                                   "devices": len(behind), "members": len(members[name]),
                                   "by_board": dict(Counter(d.board for d in behind))}))
        elif state.strategy_keys.get(name) not in (None, fleet.strategy):
            actions.append(Action("strategy", f"Fleet/{name}", "changed",
                                  {"devices": 0, "note": "rollout settings only: nothing is rebuilt or reinstalled"}))
    wanted = {f"Dataset/{n}" for n in graph.datasets} | {f"Model/{n}" for n in graph.models} | {
        f"Fleet/{n}" for n in graph.fleets}
    for ref in sorted(set(state.keys) - wanted):
        actions.append(Action("remove", ref, "removed", {"note": "no longer in the specs; devices keep what they run"}))
    return Plan(actions, graph, members, conflicts)
