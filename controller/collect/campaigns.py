"""Collection campaigns: a Fleet's `spec.collect` turned into one `CollectRequest` per member.

The campaign id is a hash of the fleet name and its collect section, so the same spec asks once
(devices run each campaign once, even when the retained request arrives again after a reconnect)
and any change (another label, session or duration) is a new campaign.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable

from specs.v1alpha1.collection import CollectRequest
from specs.v1alpha1.collection import collect_topic
from specs.v1alpha1.protocol import encode
from wire.logs import get_logger

log = get_logger("collect.campaigns")

DEFAULT_WINDOW = 64


def campaign_id(fleet: str, collect) -> str:
    body = json.dumps(collect.model_dump(mode="json"), sort_keys=True)
    return f"{fleet}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def window_for(fleet: str, sensor: str, datasets: dict) -> int:
    """Readings per window: from the Dataset whose collected source reads this fleet's sensor."""
    for dataset in datasets.values():
        for source in dataset.spec.sources:
            if getattr(source, "type", None) == "collected" and source.fleet == fleet and source.sensor == sensor:
                return source.window
    return DEFAULT_WINDOW


def collect_requests(fleet_name: str, fleet, members: Iterable[str], datasets: dict) -> list[CollectRequest]:
    """What each member of a fleet is asked to record (none when the fleet does not collect)."""
    collect = fleet.spec.collect
    if collect is None:
        return []
    campaign = campaign_id(fleet_name, collect)
    window = window_for(fleet_name, collect.sensor, datasets)
    return [CollectRequest(deviceId=device, campaign=campaign, fleet=fleet_name, sensor=collect.sensor,
                           rateHz=collect.rateHz, durationSeconds=collect.durationSeconds, window=window,
                           label=collect.label, session=collect.session or campaign)
            for device in sorted(members)]


class CampaignPublisher:
    """Publishes requests retained on each device's collect topic; idempotent across passes.
    A device no longer asked to collect gets its retained request cleared."""

    def __init__(self, link) -> None:
        self.link = link
        self._published: dict[str, str] = {}     # device -> campaign
        self._lock = threading.Lock()

    def apply(self, requests: list[CollectRequest], members: Iterable[str] = ()) -> int:
        """Publish `requests`; clear requests of `members` (devices we manage) not among them."""
        wanted = {r.deviceId: r for r in requests}
        sent = 0
        with self._lock:
            for device, request in wanted.items():
                if self._published.get(device) != request.campaign:
                    self.link.publish_and_wait(collect_topic(device), encode(request), retain=True)
                    self._published[device] = request.campaign
                    sent += 1
            for device in set(members) | set(self._published):
                if device not in wanted and self._published.get(device, "") is not None:
                    self.link.publish_and_wait(collect_topic(device), b"", retain=True)
                    self._published[device] = None  # type: ignore[assignment]
        if sent:
            log.info("collect requests published", extra={"devices": sent})
        return sent
