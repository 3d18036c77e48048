"""Choosing the cut: exhaustive over the valid cuts, under the Model's split policy.

- `never`: the whole model on the device, or an error saying by how much it does not fit.
- `at: LAYER`: that cut, when it is valid and fits.
- `auto`: the feasible cut with the least objective (latency or energy); "no split" (the whole
  model on the device) whenever it fits and is no worse. Edge only (nothing on the device) is shown
  as a baseline but never chosen: a device of the fleet always runs a model of its own.
When no head fits, the error names the smallest head and what it would need.
"""
from __future__ import annotations

from dataclasses import dataclass

from controller.split.cost import Budget
from controller.split.cost import CutCost
from controller.split.cost import LinkSpeed
from controller.split.cost import cut_cost
from controller.split.profile import CutProfile
from controller.split.profile import ModelProfile
from specs.errors import StageError


@dataclass(frozen=True)
class SplitDecision:
    model: str
    device: str                    # DeviceProfile name
    policy: str
    objective: str
    layer: str                     # chosen cut: the head ends with this layer
    split: bool                    # False: the whole model runs on the device
    chosen: CutCost
    table: tuple[CutCost, ...]     # every valid cut, in model order (edge only first)
    profile: ModelProfile
    budget: Budget
    link: LinkSpeed
    device_macs: float
    worker_macs: float
    reason: str

    @property
    def cut(self) -> CutProfile:
        return self.profile.cut(self.layer)

    def baseline(self, placement: str) -> CutCost | None:
        """The 'device-only' or 'edge-only' row (device-only is None only for an empty table)."""
        return next((row for row in self.table if row.placement == placement), None)

    def to_dict(self) -> dict:
        return {"model": self.model, "device": self.device, "policy": self.policy, "objective": self.objective,
                "layer": self.layer, "split": self.split, "reason": self.reason,
                "budget": {"ram": self.budget.ram, "flash": self.budget.flash, "reserve": self.budget.reserve},
                "link": {"bandwidth": self.link.bandwidth, "latency_s": self.link.latency_s},
                "device_macs": self.device_macs, "worker_macs": self.worker_macs,
                "chosen": self.chosen.to_dict(),
                "cuts": [{**row.to_dict(), **self.profile.cut(row.layer).to_dict()} for row in self.table]}


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _does_not_fit(cut: CutProfile, limits: Budget, what: str) -> str:
    return (f"{what} needs {_kib(cut.head_arena_bytes)} RAM and {_kib(cut.head_flash_bytes)} flash; "
            f"the board leaves {_kib(limits.ram)} RAM and {_kib(limits.flash)} flash after the "
            f"{_kib(limits.reserve)} split.firmwareReserve")


def choose_cut(profile: ModelProfile, device: str, device_macs: float, link: LinkSpeed, worker_macs: float,
               limits: Budget, policy: str = "auto", at: str | None = None,
               objective: str = "latency") -> SplitDecision:
    """Cost every valid cut and pick one under the policy (pure; microseconds per cut)."""
    table = tuple(cut_cost(cut, device_macs, link, worker_macs, limits) for cut in profile.cuts)
    whole = next(cut for cut in profile.cuts if cut.whole)
    by_layer = {row.layer: row for row in table}

    def decide(row: CutCost, reason: str) -> SplitDecision:
        return SplitDecision(model=profile.model, device=device, policy=policy, objective=objective,
                             layer=row.layer, split=row.placement != "device-only", chosen=row, table=table,
                             profile=profile, budget=limits, link=link, device_macs=device_macs,
                             worker_macs=worker_macs, reason=reason)

    if policy == "never":
        row = by_layer[whole.layer]
        if not row.feasible:
            raise StageError(f"model {profile.model} does not fit {device} and split.policy is never: "
                             f"{_does_not_fit(whole, limits, 'the whole model')}; set split.policy: auto")
        return decide(row, "split.policy is never")

    if policy == "at":
        if at not in by_layer or by_layer[at].placement == "edge-only":
            choices = ", ".join(r.layer for r in table if r.placement != "edge-only")
            raise StageError(f"split.at: '{at}' is not a valid cut of model {profile.model} (exactly one tensor "
                             f"must cross there, and the head must hold a layer); valid cuts: {choices}")
        row = by_layer[at]
        if not row.feasible:
            raise StageError(f"split.at: {at}: the head of model {profile.model} does not fit {device}: "
                             f"{_does_not_fit(profile.cut(at), limits, f'the head up to {at}')}")
        return decide(row, f"split.at is {at}")

    candidates = [row for row in table if row.placement != "edge-only" and row.feasible]
    if not candidates:
        heads = [c for c in profile.cuts if not c.edge_only]
        smallest = min(heads, key=lambda c: (c.head_arena_bytes, c.head_flash_bytes))
        raise StageError(f"no head of model {profile.model} fits {device}: the smallest, up to layer "
                         f"'{smallest.layer}', {_does_not_fit(smallest, limits, 'it')}; lower split.firmwareReserve, "
                         "pick a board with more memory or a smaller architecture")
    # Least objective; on a tie, no split first, then the deeper cut (less traffic to the worker).
    best = min(candidates, key=lambda r: (r.objective(objective), r.placement != "device-only", -r.index))
    whole_row = by_layer[whole.layer]
    if best.placement == "device-only":
        reason = f"the whole model fits and no split has a lower {objective}"
    elif not whole_row.feasible:
        reason = (f"the whole model does not fit ({'RAM' if not whole_row.fits_ram else 'flash'}); "
                  f"the cut after {best.layer} has the least {objective} of the {len(candidates)} heads that fit")
    else:
        reason = f"splitting after {best.layer} has a lower {objective} than running the whole model on the device"
    return decide(best, reason)
