"""Data collection inside the controller: the collector, the provider of collected snapshots, and
the campaigns the fleets' specs ask for, started and stopped together.

    service = CollectionService(url, state_dir / "origami-state.db", artifacts, store=state).start()
    service.apply(repo, state.devices())     # on every reconcile pass: policies and campaigns
    service.stop()
"""
from __future__ import annotations

from pathlib import Path

from controller.collect.campaigns import CampaignPublisher
from controller.collect.campaigns import collect_requests
from controller.collect.index import SampleIndex
from controller.collect.ingest import Collector
from controller.collect.snapshot import CollectedSnapshots
from controller.pipeline.collected import register_collected_provider
from controller.planning.membership import assign_fleets
from controller.store.artifacts import ArtifactStore
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink


class CollectionService:
    def __init__(self, url: str | BrokerConnection, state_file: str | Path, artifacts: ArtifactStore, *, store=None,
                 client_id: str = "origami-collector", username: str | None = None,
                 password: str | None = None, campaign_link: MqttLink | None = None,
                 share_group: str | None = None) -> None:
        """`campaign_link`: an already started link that may publish collect requests (the DeviceHub's);
        without it the service opens its own, as the same account as the collector (fine on an open
        broker, not where each account has one connection: `use_username_as_clientid`)."""
        self.index = SampleIndex(state_file)
        self.artifacts = artifacts
        self.collector = Collector(url, self.index, artifacts, client_id=client_id, username=username,
                                   password=password, share_group=share_group)
        self.provider = CollectedSnapshots(self.index, artifacts, store=store)
        self._own_link = campaign_link is None
        self.link = campaign_link or MqttLink(f"{client_id}-campaigns", url, username=username, password=password)
        self.campaigns = CampaignPublisher(self.link)

    def start(self, timeout: float = 10.0) -> CollectionService:
        self.collector.start(timeout)
        if self._own_link:
            self.link.start(timeout)
        register_collected_provider(self.provider)
        return self

    def stop(self) -> None:
        register_collected_provider(None)
        self.collector.stop()
        if self._own_link:
            self.link.stop()
        self.index.close()

    def apply(self, repo, devices) -> int:
        """Retrain policies from the Datasets; a collect request to each member of a collecting Fleet."""
        self.provider.configure(repo.datasets)
        members, _ = assign_fleets(repo.fleets, list(devices))
        requests = []
        for name, fleet in repo.fleets.items():
            requests += collect_requests(name, fleet, [d.device_id for d in members.get(name, [])], repo.datasets)
        return self.campaigns.apply(requests, [d.device_id for ds in members.values() for d in ds])
