"""The Origami GATT service (docs/ble.md): the serial protocol's frames over Bluetooth LE.

Two characteristics, like a UART: the gateway (GATT client, central) writes frame bytes to RX without
response; the board (GATT server, peripheral) notifies frame bytes on TX. Each write or notification
carries at most `segment_size(mtu)` bytes of the byte stream; the receiver feeds them to the same
`FrameDecoder` as a serial port, so framing, CRCs and resync are unchanged. Pure functions and
constants: no Bluetooth stack here, so both ends and the tests share them.
"""
from __future__ import annotations

from dataclasses import dataclass

# 128-bit UUIDs chosen at random for Origami (one base, the first 32 bits count up, like Nordic's UART).
SERVICE_UUID = "c4230001-c402-4405-ba20-816a0b20b442"
RX_UUID = "c4230002-c402-4405-ba20-816a0b20b442"   # gateway -> board: write / write without response
TX_UUID = "c4230003-c402-4405-ba20-816a0b20b442"   # board -> gateway: notify

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

# Advertising data (Core Supplement Part A): AD type codes used here.
AD_FLAGS = 0x01
AD_COMPLETE_128 = 0x07
AD_SHORT_NAME = 0x08
AD_COMPLETE_NAME = 0x09
FLAGS_LE_GENERAL_NO_BREDR = 0x06
MAX_AD_BYTES = 31              # legacy advertising PDU and scan response
SHORT_NAME_BYTES = MAX_AD_BYTES - 3 - 18 - 2   # what is left beside flags and the service UUID


def segment_size(mtu: int) -> int:
    """Stream bytes per write or notification at this ATT MTU."""
    return max(1, min(mtu - ATT_HEADER, MAX_ATTRIBUTE_VALUE))


def segments(data: bytes, mtu: int) -> list[bytes]:
    """`data` cut to the negotiated MTU, in order (the receiver just concatenates)."""
    size = segment_size(mtu)
    return [data[i:i + size] for i in range(0, len(data), size)]


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
    sdu = size + ATT_HEADER + 4
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


def _uuid_le(uuid: str) -> bytes:
    return bytes.fromhex(uuid.replace("-", ""))[::-1]   # UUIDs travel little-endian in AD structures


def _ad(ad_type: int, value: bytes) -> bytes:
    return bytes([len(value) + 1, ad_type]) + value


def _name_ad(name: str, room: int) -> bytes:
    raw = name.encode("utf-8")
    if len(raw) <= room:
        return _ad(AD_COMPLETE_NAME, raw)
    return _ad(AD_SHORT_NAME, raw[:room].decode("utf-8", "ignore").encode("utf-8"))


def advertising_data(device_id: str) -> bytes:
    """Flags, the service UUID (what the gateway scans for) and as much of the board's name as fits."""
    return _ad(AD_FLAGS, bytes([FLAGS_LE_GENERAL_NO_BREDR])) + _ad(AD_COMPLETE_128, _uuid_le(SERVICE_UUID)) + \
        _name_ad(device_id, SHORT_NAME_BYTES)


def scan_response_data(device_id: str) -> bytes:
    """The board's whole name (its device id), up to 29 bytes."""
    return _name_ad(device_id, MAX_AD_BYTES - 2)


@dataclass(frozen=True)
class Advertised:
    """What an advertisement (or scan response) says, parsed leniently: radio input is untrusted."""

    origami: bool              # lists the Origami service
    name: str | None           # complete name, or the shortened one
    complete_name: bool


def parse_advertising(data: bytes) -> Advertised:
    """AD structures -> what Origami uses; a malformed tail is ignored, never raised on."""
    origami, name, complete = False, None, False
    i = 0
    while i + 1 < len(data):
        length = data[i]
        if length == 0 or i + 1 + length > len(data):
            break
        ad_type, value = data[i + 1], data[i + 2:i + 1 + length]
        if ad_type in (AD_COMPLETE_128, 0x06):   # complete or incomplete list of 128-bit UUIDs
            origami |= any(value[j:j + 16] == _uuid_le(SERVICE_UUID) for j in range(0, len(value) - 15, 16))
        elif ad_type in (AD_COMPLETE_NAME, AD_SHORT_NAME) and not complete:
            name, complete = value.decode("utf-8", "replace"), ad_type == AD_COMPLETE_NAME
        i += 1 + length
    return Advertised(origami=origami, name=name, complete_name=complete)
