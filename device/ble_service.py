"""The Origami GATT service (docs/ble.md): the serial protocol's frames over Bluetooth LE.

Two characteristics, like a UART: the gateway (GATT client, central) writes frame bytes to RX without
response; the board (GATT server, peripheral) notifies frame bytes on TX. Each write or notification
carries at most `segment_size(mtu)` bytes of the byte stream; the receiver feeds them to the same
`FrameDecoder` as a serial port, so framing, CRCs and resync are unchanged. Pure functions and
constants: no Bluetooth stack here, so both ends and the tests share them.
"""
from __future__ import annotations

from dataclasses import dataclass

from wire.ble_air import segment_size

# 128-bit UUIDs chosen at random for Origami (one base, the first 32 bits count up, like Nordic's UART).
SERVICE_UUID = "c4230001-c402-4405-ba20-816a0b20b442"
RX_UUID = "c4230002-c402-4405-ba20-816a0b20b442"   # gateway -> board: write / write without response
TX_UUID = "c4230003-c402-4405-ba20-816a0b20b442"   # board -> gateway: notify

# Advertising data (Core Supplement Part A): AD type codes used here.
AD_FLAGS = 0x01
AD_COMPLETE_128 = 0x07
AD_SHORT_NAME = 0x08
AD_COMPLETE_NAME = 0x09
FLAGS_LE_GENERAL_NO_BREDR = 0x06
MAX_AD_BYTES = 31              # legacy advertising PDU and scan response
SHORT_NAME_BYTES = MAX_AD_BYTES - 3 - 18 - 2   # what is left beside flags and the service UUID


def segments(data: bytes, mtu: int) -> list[bytes]:
    """`data` cut to the negotiated MTU, in order (the receiver just concatenates)."""
    size = segment_size(mtu)
    return [data[i:i + size] for i in range(0, len(data), size)]


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
