"""The loop's device phase: *ingest* what devices reported (hellos, states, presence, their own events)
and what the controller refused from them, durably, before anything is decided.

A device is believed about what it is and runs only through these records; the time of a report is
the controller's clock (a device's own timestamp is shown, never trusted). Device events and
rejections reach the event trail, rate-limited per device so that one noisy device cannot flood it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from controller.reconciler.ports import DeviceLink
from controller.reconciler.ports import Rejection
from controller.state import StateStore
from specs.v1alpha1.protocol import Event
from specs.v1alpha1.protocol import Hello
from specs.v1alpha1.protocol import Presence
from specs.v1alpha1.protocol import ReportedState
from wire.logs import get_logger

log = get_logger("reconciler.reports")
FAILED_OUTCOMES = ("rolled-back", "rejected", "failed")


@dataclass
class RateLimit:
    """At most `burst` events per device per `window` seconds; the rest are counted, and one Warning
    says how many were dropped when the window ends."""

    burst: int = 20
    window: float = 60.0
    max_tracked: int = 1000  # devices remembered at once: ids that come and go must not grow memory
    _windows: dict[str, tuple[float, int, int]] = field(default_factory=dict)  # device -> (start, sent, dropped)

    def allow(self, device_id: str, now: float) -> tuple[bool, int]:
        """(whether to record this one, how many were dropped in the window that just ended)."""
        if device_id not in self._windows and len(self._windows) >= self.max_tracked:
            self._forget_ended(now)
        start, sent, dropped = self._windows.get(device_id, (now, 0, 0))
        ended = 0
        if now - start >= self.window:
            ended, start, sent, dropped = dropped, now, 0, 0
        if sent < self.burst:
            self._windows[device_id] = (start, sent + 1, dropped)
            return True, ended
        self._windows[device_id] = (start, sent, dropped + 1)
        return False, ended

    def _forget_ended(self, now: float) -> None:
        """Drop the windows that have ended (a device that speaks again starts a fresh one); if every
        window is still open, the oldest go, so memory stays bounded whatever ids are made up."""
        self._windows = {d: w for d, w in self._windows.items() if now - w[0] < self.window}
        if len(self._windows) >= self.max_tracked:
            newest = sorted(self._windows.items(), key=lambda item: item[1][0])[len(self._windows) // 2:]
            self._windows = dict(newest)


class ReportIngest:
    def __init__(self, store: StateStore, link: DeviceLink, *, clock: Callable[[], float] = time.time,
                 limit: RateLimit | None = None, online_timeout: float = 180.0) -> None:
        self.store = store
        self.online_timeout = online_timeout
        self.link = link
        self.clock = clock
        self.limit = limit or RateLimit()
        self.rejections = RateLimit(burst=50)  # all rejected messages together: 10,000 forged ids are one line
        self.rejected = 0  # device messages refused since start (a metric reads it)
        self._observers: list[Callable[[object], None]] = []

    def on_report(self, callback: Callable[[object], None]) -> None:
        """Call `callback(observation)` for every report and rejection ingested (metrics, dashboards)."""
        self._observers.append(callback)

    def ingest(self) -> int:
        """Record what devices said since the last call; a report is durable once this returns. A
        device silent for longer than the online timeout is marked offline (with an event), so that
        every reader of the store sees the same truth."""
        observations = self.link.poll()
        now = self.clock()
        before = now - self.online_timeout
        if not observations and not self.store.silent(before):
            return 0  # an idle pass takes no write lock
        with self.store.transaction():
            for o in observations:
                self._record(o, now)
            for device_id in self.store.mark_silent(before):
                self.store.emit("Device", device_id, "Silent",
                                f"no message for {self.online_timeout:.0f} s: counted offline until it reports again",
                                warning=True)
        for o in observations:
            for callback in self._observers:
                callback(o)
        return len(observations)

    def _record(self, o: object, now: float) -> None:
        if isinstance(o, Hello):
            caps = o.capabilities
            self.store.observe_device(o.deviceId, board=caps.profile or caps.board or None, labels=o.labels,
                                      hello=o.model_dump(mode="json"), seen_at=now)
        elif isinstance(o, ReportedState):
            failed = o.lastUpdate.version if o.lastUpdate and o.lastUpdate.outcome in FAILED_OUTCOMES else None
            reported = o.model_dump(mode="json") | {"failedVersion": failed}
            self.store.observe_device(o.deviceId, reported=reported, reported_version=o.modelVersion,
                                      healthy=o.health != "failed", seen_at=now)
        elif isinstance(o, Presence):
            self.store.observe_device(o.deviceId, online=o.online, seen_at=now)
        elif isinstance(o, Event):
            self._device_event(o.deviceId, o.reason, o.message, o.type == "Warning", now)
        elif isinstance(o, Rejection):
            self.rejected += 1
            allowed, dropped = self.rejections.allow("*", now)
            if dropped:
                self.store.emit("Source", "devices", "RejectionsDropped",
                                f"{dropped} more rejected device message(s) in the last "
                                f"{self.rejections.window:.0f} s not shown one by one", warning=True)
            if allowed:
                self._device_event(o.device_id, "MessageRejected", f"{o.channel}: {o.reason}", True, now)

    def _device_event(self, device_id: str, reason: str, message: str, warning: bool, now: float) -> None:
        allowed, dropped = self.limit.allow(device_id, now)
        if dropped:
            self.store.emit("Device", device_id, "EventsDropped",
                            f"{dropped} event(s) from this device dropped in the last {self.limit.window:.0f} s "
                            f"(over {self.limit.burst} per window)", warning=True)
        if allowed:
            self.store.emit("Device", device_id, reason, message[:500], warning=warning)
