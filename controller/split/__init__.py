"""Model splitting: valid cuts, per-cut profiles, the cost model, the choice, head/tail artifacts,
and split inference at run time (head on the device, tail on `origami worker`, over MQTT).

The reconciler calls `plan_split` then `build_split` (controller.split.plan); TensorFlow is
imported only by the functions that need it.
"""
from __future__ import annotations

from controller.split.choose import SplitDecision, choose_cut
from controller.split.cost import (
                                   Budget,
                                   CutCost,
                                   LinkSpeed,
                                   cut_cost,
                                   link_from_spec,
)
from controller.split.plan import (
                                   CompositionReport,
                                   build_split,
                                   check_composition,
                                   decide,
                                   default_worker_macs,
                                   plan_split,
                                   run_split_pair,
)
from controller.split.profile import (
                                   CutProfile,
                                   ModelProfile,
                                   profile_graph,
                                   profile_model,
)

__all__ = [
    "Budget", "CompositionReport", "CutCost", "CutProfile", "LinkSpeed", "ModelProfile", "SplitDecision",
    "build_split", "check_composition", "choose_cut", "cut_cost", "decide", "default_worker_macs",
    "link_from_spec", "plan_split", "profile_graph", "profile_model", "run_split_pair",
]
