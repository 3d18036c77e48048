"""A virtual Linux board: the real device agent with a temporary directory as its disk,
capabilities taken from a DeviceProfile, and faults that can be injected on purpose."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.agent import AgentConfig
from device.agent import DeviceAgent
from device.agent import default_health_check
from device.health import HealthResult
from specs.errors import UsageError
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Accelerator
from specs.v1alpha1.protocol import Capabilities
from specs.v1alpha1.protocol import DesiredState
from wire.mqtt import BrokerConnection


@dataclass
class Faults:
    drop_at_chunk: int | None = None     # cut the TCP connection when this chunk (0-based) arrives
    corrupt_chunk: int | None = None     # flip a byte in this chunk (0-based, first delivery only)
    fail_health: bool = False            # the health check fails (the agent must roll back)
    offline: bool = False                # never connects


@dataclass
class FaultLog:
    dropped_at: list[int] = field(default_factory=list)
    corrupted_at: list[int] = field(default_factory=list)


def profile_capabilities(profile: str, disk: Path) -> Capabilities:
    """What a board of this DeviceProfile would report; free space is the virtual disk's own."""
    if profile not in BUILTIN_PROFILES:
        linux = sorted(n for n, p in BUILTIN_PROFILES.items() if p.spec.family == "linux")
        raise UsageError(f"unknown board '{profile}' for a virtual Linux device; use one of {', '.join(linux)}")
    spec = BUILTIN_PROFILES[profile].spec
    if spec.family != "linux":
        raise UsageError(f"board '{profile}' is a microcontroller; a virtual Linux device needs a Linux board")
    import shutil

    usage = shutil.disk_usage(disk)
    return Capabilities(family="linux", board=spec.board, profile=profile, arch="aarch64", cores=spec.cores,
                        ramBytes=spec.ram, flashBytes=spec.flash, freeBytes=min(usage.free, spec.flash),
                        runtimes=["litert"], transports=list(spec.transports),
                        accelerators=[Accelerator(kind=a) for a in spec.accelerators if a in ("edgetpu", "cuda")])


class VirtualLinuxBoard:
    def __init__(self, device_id: str, url: str | BrokerConnection, disk: Path, public_key: Ed25519PublicKey, *,
                 profile: str = "rpi4", labels: dict[str, str] | None = None, faults: Faults | None = None,
                 username: str | None = None, password: str | None = None, retry_seconds: float = 5.0) -> None:
        self.faults = faults or Faults()
        self.fault_log = FaultLog()
        self._chunks_seen = 0
        self._lock = threading.Lock()
        self._drop_at = self.faults.drop_at_chunk
        disk = Path(disk)
        disk.mkdir(parents=True, exist_ok=True)
        capabilities = profile_capabilities(profile, disk)  # fails early on a bad board name
        self.agent = DeviceAgent(AgentConfig(
            device_id=device_id, url=url, state_dir=disk, public_key=public_key,
            capabilities=lambda: capabilities, username=username, password=password,
            labels=dict(labels or {}), agent="virtual-linux", health_check=self._health,
            chunk_filter=self._filter, retry_seconds=retry_seconds))
        from device.capture import DeviceCollection  # records virtual sensors on CollectRequests

        self.collection = DeviceCollection.attach(self.agent.link, device_id)

    @property
    def device_id(self) -> str:
        return self.agent.device_id

    def start(self, timeout: float | None = 10.0) -> VirtualLinuxBoard:
        if not self.faults.offline:
            self.agent.start(timeout)
        return self

    def stop(self) -> None:
        self.collection.close()
        if not self.faults.offline:
            self.agent.stop()

    def _health(self, model: Path, desired: DesiredState) -> HealthResult:
        if self.faults.fail_health:
            return HealthResult(False, "injected fault: probe inference failed")
        return default_health_check(model, desired)

    def _filter(self, payload: bytes) -> bytes | None:
        index = self._chunks_seen
        self._chunks_seen += 1
        if self._drop_at is not None and index == self._drop_at:
            self._drop_at = None
            self.fault_log.dropped_at.append(index)
            self.agent.link.drop()   # the chunk being received is lost with the connection
            return None
        if self.faults.corrupt_chunk is not None and index == self.faults.corrupt_chunk:
            self.fault_log.corrupted_at.append(index)
            corrupted = bytearray(payload)
            corrupted[-1] ^= 0xFF
            return bytes(corrupted)
        return payload
