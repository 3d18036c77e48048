"""A collector on a real Mosquitto plus a listener of the devices' events, for the collect tests."""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from controller.collect.index import SampleIndex
from controller.collect.ingest import Collector
from controller.store.artifacts import ArtifactStore
from specs.v1alpha1.protocol import Event
from wire.mqtt import MqttLink


class CollectRig:
    def __init__(self, tmp: Path, url: str) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.index = SampleIndex(tmp / "state" / "origami-state.db")
        self.artifacts = ArtifactStore(tmp / "artifacts")
        self.collector = Collector(url, self.index, self.artifacts, client_id=f"collector-{self.tag}")
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self.listener = MqttLink(f"events-{self.tag}", url)
        self.listener.subscribe("origami/v1/devices/+/events", self._on_event)
        self.device = MqttLink(f"device-{self.tag}", url)   # publishes as any device (tests craft payloads)

    def device_id(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def start(self) -> CollectRig:
        self.listener.start()
        self.device.start()
        self.collector.start()
        return self

    def stop(self) -> None:
        self.collector.stop()
        self.device.stop()
        self.listener.stop()
        self.index.close()

    def _on_event(self, topic: str, payload: bytes) -> None:
        event = Event.model_validate_json(payload)
        if event.deviceId.endswith(self.tag):
            with self._lock:
                self.events.append(event)

    def wait_events(self, reason: str, count: int, timeout: float = 15.0) -> list[Event]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [e for e in self.events if e.reason == reason]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return found
