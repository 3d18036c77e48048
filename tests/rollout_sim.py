"""A simulated fleet around the pure rollout decision: the loop's side of the contract (desired states
recorded with growing generations, failures recorded durably, `reached_at` marked from the decision)
and devices that receive their retained desired state when online, install it, refuse it, fail its
health check, stay silent, or lie about what they run."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

from controller.reconciler.convergence import Member
from controller.reconciler.rollout import RolloutDecision
from controller.reconciler.rollout import next_step
from controller.state.records import RolloutRecord
from specs.v1alpha1.fleet import Rollout


def digest(version: str, board: str | None) -> str:
    return hashlib.sha256(f"{version}/{board}".encode()).hexdigest()


@dataclass
class Desired:
    version: str
    digest: str
    generation: int
    assigned_at: float
    reason: str
    reached_at: float | None = None


@dataclass
class Device:
    board: str = "rpi4"
    online: bool = True
    online_since: float = 0.0
    last_seen: float = 0.0
    health: str = "ok"
    health_reason: str = ""
    digest: str | None = None  # what it runs
    observed: int = -1  # observedGeneration: the last desired generation it received
    received: Desired | None = None  # the desired state it holds (retained: received when online)
    failing: set[str] = field(default_factory=set)  # versions whose install or health check fails here
    silent: bool = False  # receives but never finishes
    lies: str | None = None  # a digest it reports whatever it was sent


class SimFleet:
    """`n` members on `version` (already proven), or none on anything when `version` is None."""

    def __init__(self, n: int, version: str | None = None, *, fleet: str = "f", board: str = "rpi4") -> None:
        self.fleet = fleet
        self.devices: dict[str, Device] = {}
        self.desired: dict[str, Desired] = {}
        self.failed: dict[str, set[str]] = {}
        self.generations: dict[str, int] = {}
        self.no_artifact: set[tuple[str, str]] = set()  # (version, board) without an artifact
        self.sent: list[tuple[str, str, str]] = []  # (device, version, reason) in order
        self.decisions: list[RolloutDecision] = []
        self.record = RolloutRecord(fleet, target=version, last_good=version,
                                    phase="complete" if version else "idle", started_at=0.0 if version else None)
        for i in range(n):
            self.add(f"d{i:03d}", board=board, version=version)

    # --- the world -------------------------------------------------------------------------------
    def add(self, device_id: str, *, board: str = "rpi4", version: str | None = None, now: float = 0.0) -> None:
        dev = Device(board=board, online_since=now, last_seen=now)
        self.devices[device_id] = dev
        self.failed[device_id] = set()
        if version is not None:
            d = digest(version, board)
            self.generations[device_id] = 1
            self.desired[device_id] = Desired(version, d, 1, now, "join", reached_at=now)
            dev.received, dev.observed, dev.digest = self.desired[device_id], 1, d

    def remove(self, device_id: str) -> None:
        del self.devices[device_id]

    def set_online(self, device_id: str, online: bool, now: float) -> None:
        dev = self.devices[device_id]
        if online and not dev.online:
            dev.online_since = now
            self._deliver(device_id)
        dev.online = online
        dev.last_seen = now

    def digest_of(self, version: str, board: str | None) -> str | None:
        return None if (version, board) in self.no_artifact else digest(version, board)

    def members(self) -> list[Member]:
        out = []
        for i, dev in self.devices.items():
            want = self.desired.get(i)
            out.append(Member(
                i, dev.board, dev.online, dev.health, dev.health_reason, want.version if want else None,
                want.generation if want else None, want.digest if want else None, want.assigned_at if want else None,
                want.reached_at if want else None, dev.lies or dev.digest, dev.observed, frozenset(self.failed[i]),
                dev.online_since if dev.online else None, dev.last_seen))
        return out

    # --- the loop --------------------------------------------------------------------------------
    def step(self, strategy: Rollout, desired: str | None, now: float, *, paused: bool = False) -> RolloutDecision:
        d = next_step(self.fleet, strategy, self.record, self.members(), desired, self.digest_of, now, paused=paused)
        self.decisions.append(d)
        self.record = d.record
        if d.forget_failures:
            for versions in self.failed.values():
                versions.discard(d.forget_failures)
        for f in d.failures:
            self.failed[f.device_id].add(f.version)
        for i, st in d.members.items():
            if st.updated and self.desired[i].reached_at is None:
                self.desired[i].reached_at = now
        for a in d.assignments:
            self.generations[a.device_id] = self.generations.get(a.device_id, 0) + 1
            self.desired[a.device_id] = Desired(a.version, a.digest, self.generations[a.device_id], now, a.reason)
            self.sent.append((a.device_id, a.version, a.reason))
            self._deliver(a.device_id)
        return d

    def _deliver(self, device_id: str) -> None:
        dev, want = self.devices[device_id], self.desired.get(device_id)
        if dev.online and want is not None and (dev.received is None or want.generation > dev.received.generation):
            dev.received, dev.observed = replace(want), want.generation

    def answer(self, device_id: str) -> None:
        """The device finishes what it received: installs it, or refuses it (the loop records that)."""
        dev = self.devices[device_id]
        got = dev.received
        if not dev.online or dev.silent or got is None or dev.digest == got.digest:
            return
        if got.version in dev.failing:
            self.failed[device_id].add(got.version)  # the loop records the device's failure report
        else:
            dev.digest, dev.health, dev.health_reason = got.digest, "ok", ""

    def devices_answer(self) -> None:
        for i in self.devices:
            self.answer(i)

    def run(self, strategy: Rollout, desired: str | None, *, start: float = 0.0, dt: float = 1.0,
            passes: int = 200) -> list[RolloutDecision]:
        out, now = [], start
        for _ in range(passes):
            d = self.step(strategy, desired, now)
            out.append(d)
            self.devices_answer()
            if d.ready:
                break
            now += dt
        return out

    def running(self, version: str) -> set[str]:
        return {i for i, dev in self.devices.items() if dev.digest == digest(version, dev.board)}
