"""The desired-state graph of one revision: datasets -> models -> bundles per device class -> fleet
releases, each node keyed by `controller.planning.keys`.

Comparing the keys with the stage cache says what must be built; comparing a fleet's release
version with what its members were assigned says who must be updated. Pure (reads only the files
the keys cover) and TF-free, fast enough for every pass.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.loading import SpecRepository
from controller.planning.keys import FleetKeys
from controller.planning.keys import ModelKeys
from controller.planning.keys import dataset_key
from controller.planning.keys import fleet_keys
from controller.planning.keys import model_keys


@dataclass(frozen=True)
class DesiredGraph:
    datasets: dict[str, str]  # dataset -> dataset key
    models: dict[str, ModelKeys]
    fleets: dict[str, FleetKeys]

    def versions(self) -> dict[str, str]:
        """Fleet -> the release version its members must run."""
        return {name: keys.version for name, keys in self.fleets.items()}


def build_graph(repo: SpecRepository, member_boards: Mapping[str, set[str]] | None = None) -> DesiredGraph:
    """The graph of a valid repository; `member_boards` gives, per fleet, the device classes of its
    current members (used when the fleet's selector names no board)."""
    boards = member_boards or {}
    datasets = {name: dataset_key(repo, name) for name in repo.datasets}
    models = {name: model_keys(repo, name, datasets) for name in repo.models}
    fleets = {name: fleet_keys(repo, name, models[fleet.spec.model],
                               {b for b in boards.get(name, set()) if b in repo.profiles})
              for name, fleet in repo.fleets.items()}
    return DesiredGraph(datasets, models, fleets)
