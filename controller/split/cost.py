"""The split cost model: pure arithmetic on a cut's figures, the board, the link and the worker.

latency = device compute (head MACs / board MAC rate)
        + transfer (crossing bytes + reply bytes) / bandwidth + 2 x per-message latency (request, reply)
        + remote compute (tail MACs / worker MAC rate)
A whole-model cut has no transfer and no remote part. Energy (objective: energy) counts what drains
the device's battery: its own active time, CPU plus radio, and not the wait for the worker; the two
are weighted alike because they draw similar currents on these boards (nRF52840: CPU about 3.3 mA
at 64 MHz, radio about 4.6-4.8 mA), so the unit is "device-active seconds".
Constraints: head .tflite <= flash - firmwareReserve and head arena <= RAM - firmwareReserve.
"""
from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass

from controller.split.profile import CutProfile
from specs.v1alpha1.budget import Budget
from wire.ble_air import CONNECTION_INTERVAL_MS
from wire.ble_air import PREFERRED_ATT_MTU
from wire.ble_air import theoretical_rate

ROLLOUT_MARGIN = 3.0        # a device gets at least this many transfer times before it counts as timed out
TRANSFER_CHUNK = 8 * 1024   # the gateway's chunk to a board: one ack round trip each


@dataclass(frozen=True)
class LinkSpeed:
    bandwidth: float      # bytes per second
    latency_s: float      # per message, one way


@dataclass(frozen=True)
class CutCost:
    layer: str
    index: int
    placement: str        # "device-only", "split" or "edge-only"
    device_s: float
    transfer_s: float
    remote_s: float
    latency_s: float
    energy_s: float       # device-active seconds (compute + radio)
    fits_flash: bool
    fits_ram: bool

    @property
    def feasible(self) -> bool:
        return self.fits_flash and self.fits_ram

    def objective(self, objective: str) -> float:
        return self.energy_s if objective == "energy" else self.latency_s

    def to_dict(self) -> dict:
        return {**asdict(self), "feasible": self.feasible}


def link_from_spec(link) -> LinkSpeed:
    """From a Fleet's `spec.link` (bandwidth in B/s, latencyMs)."""
    return LinkSpeed(bandwidth=float(link.bandwidth), latency_s=float(link.latencyMs) / 1000.0)


def ble_link(mtu: int = PREFERRED_ATT_MTU, *, interval_ms: float = CONNECTION_INTERVAL_MS, phy_mbps: int = 1,
             packets_per_event: int | None = None) -> LinkSpeed:
    """A Bluetooth LE link's figures (docs/ble.md): the air-time ceiling of the connection the gateway
    asks for, and one connection interval per message (an answer waits for the next event)."""
    return LinkSpeed(bandwidth=theoretical_rate(mtu, interval_ms=interval_ms, phy_mbps=phy_mbps,
                                                packets_per_event=packets_per_event),
                     latency_s=interval_ms / 1000.0)


def transfer_seconds(size: int, link: LinkSpeed, chunk_size: int = TRANSFER_CHUNK) -> float:
    """Moving `size` bytes stop-and-wait: the bytes at the link's bandwidth plus a round trip per chunk."""
    chunks = max(1, -(-size // chunk_size))
    return size / link.bandwidth + chunks * 2 * link.latency_s


def rollout_timeout(configured_s: float, size: int, link: LinkSpeed) -> float:
    """A Fleet's deviceTimeoutSeconds, raised when its link is too slow to move the artifact in time
    (a large model over BLE): a healthy update must not be failed for the link's speed."""
    return max(configured_s, ROLLOUT_MARGIN * transfer_seconds(size, link))


def cut_cost(cut: CutProfile, device_macs: float, link: LinkSpeed, worker_macs: float, limits: Budget) -> CutCost:
    device_s = cut.head_macs / device_macs
    if cut.whole:
        transfer_s, remote_s, radio_s = 0.0, 0.0, 0.0
    else:
        radio_s = (cut.crossing_bytes + cut.reply_bytes) / link.bandwidth
        transfer_s = radio_s + 2 * link.latency_s
        remote_s = cut.tail_macs / worker_macs
    placement = "device-only" if cut.whole else "edge-only" if cut.edge_only else "split"
    return CutCost(layer=cut.layer, index=cut.index, placement=placement, device_s=device_s,
                   transfer_s=transfer_s, remote_s=remote_s, latency_s=device_s + transfer_s + remote_s,
                   energy_s=device_s + radio_s,
                   fits_flash=cut.head_flash_bytes <= limits.flash, fits_ram=cut.head_arena_bytes <= limits.ram)
