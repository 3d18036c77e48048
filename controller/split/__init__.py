"""Model splitting: valid cuts, per-cut profiles, the cost model, the choice, head/tail artifacts,
and split inference at run time (head on the device, tail on `origami worker`, over MQTT).

The reconciler calls `plan_split` then `build_split` (controller.split.plan); TensorFlow is
imported only by the functions that need it.
"""
from __future__ import annotations

from controller.split.choose import SplitDecision
from controller.split.choose import choose_cut
from controller.split.cost import Budget
from controller.split.cost import CutCost
from controller.split.cost import LinkSpeed
from controller.split.cost import cut_cost
from controller.split.cost import link_from_spec
from controller.split.plan import CompositionReport
from controller.split.plan import build_split
from controller.split.plan import check_composition
from controller.split.plan import decide
from controller.split.plan import default_worker_macs
from controller.split.plan import plan_split
from controller.split.plan import run_split_pair
from controller.split.profile import CutProfile
from controller.split.profile import ModelProfile
from controller.split.profile import profile_graph
from controller.split.profile import profile_model

__all__ = [
    "Budget", "CompositionReport", "CutCost", "CutProfile", "LinkSpeed", "ModelProfile", "SplitDecision",
    "build_split", "check_composition", "choose_cut", "cut_cost", "decide", "default_worker_macs",
    "link_from_spec", "plan_split", "profile_graph", "profile_model", "run_split_pair",
]
