"""Bluetooth LE figures shared by the gateway, the benchmarks and the split cost model (pure arithmetic).

How many stream bytes fit in one ATT write or notification, the connection parameters the gateway
asks for, and the air time those give: the upper bound a BLE link can carry one way, from the
packets on air (Core spec Vol 6 Part B), for a link's figures in the cost model and the rollout.
"""
from __future__ import annotations

ATT_HEADER = 3                 # opcode + handle in front of every write command and notification
MAX_ATTRIBUTE_VALUE = 512      # GATT's limit on one attribute value (Core spec Vol 3 Part F 3.2.9)
DEFAULT_ATT_MTU = 23           # before the exchange: 20 bytes a segment
# What the gateway asks for: 244-byte segments, each exactly one 251-byte link-layer PDU with the Data
# Length Extension (a 517 MTU would add a short third PDU to every 512-byte segment: slower on air,
# see theoretical_rate); a peer that offers less gets its own figure.
PREFERRED_ATT_MTU = 247

# Connection parameters the gateway asks for: a 15 ms interval (the shortest most phones and the
# nRF52840's SoftDevice agree to), no peripheral latency (chunks are stop-and-wait: every event
# counts), and a 2 s supervision timeout, so a board out of range is noticed and reconnected quickly.
CONNECTION_INTERVAL_MS = 15.0
SUPERVISION_TIMEOUT_MS = 2000
PHY_MBPS = 1                   # LE 1M: every BLE 4.x/5 board has it (2M doubles the ceiling below)
LL_MAX_PAYLOAD = 251           # link-layer data length with the Data Length Extension (27 without)
L2CAP_HEADER = 4               # length + channel id in front of every ATT PDU


def segment_size(mtu: int) -> int:
    """Stream bytes per write or notification at this ATT MTU."""
    return max(1, min(mtu - ATT_HEADER, MAX_ATTRIBUTE_VALUE))


def theoretical_rate(mtu: int, *, interval_ms: float = CONNECTION_INTERVAL_MS, phy_mbps: int = PHY_MBPS,
                     ll_payload: int = LL_MAX_PAYLOAD, packets_per_event: int | None = None) -> float:
    """Upper bound on stream bytes per second one way, from the air time of the packets (Core Vol 6 Part B).

    Each segment is an L2CAP frame (4 B) around an ATT write or notification (3 B), cut into link-layer
    PDUs of at most `ll_payload`; each PDU takes preamble + access address + header + payload + CRC on
    air, then T_IFS, the peer's empty PDU and T_IFS. A connection event fits as many PDUs as the
    interval allows (or `packets_per_event`, a controller's own limit); nothing is lost or retried.
    """
    t_ifs_us, us_per_byte = 150.0, 8.0 / phy_mbps
    preamble = 1 if phy_mbps == 1 else 2

    def air_us(payload: int) -> float:
        return (preamble + 4 + 2 + payload + 3) * us_per_byte

    size = segment_size(mtu)
    sdu = size + ATT_HEADER + L2CAP_HEADER
    pdus = [min(ll_payload, sdu - i) for i in range(0, sdu, ll_payload)]
    interval_us = interval_ms * 1000.0
    # Fill one second of connection events with segments, PDU by PDU.
    sent, pdu_index, events = 0, 0, int(1_000_000 // interval_us)
    for _ in range(events):
        used, packets = 0.0, 0
        while True:
            cost = air_us(pdus[pdu_index]) + t_ifs_us + air_us(0) + t_ifs_us
            if used + cost > interval_us or (packets_per_event and packets >= packets_per_event):
                break
            used, packets = used + cost, packets + 1
            pdu_index += 1
            if pdu_index == len(pdus):
                sent, pdu_index = sent + size, 0
    return sent * (1_000_000 / (events * interval_us))


def round_trip_s(interval_ms: float = CONNECTION_INTERVAL_MS) -> float:
    """A request and its answer: at best one connection event each way (the answer to a write waits
    for the next event at least), so about two intervals: the per-message latency of a BLE link."""
    return 2 * interval_ms / 1000.0
